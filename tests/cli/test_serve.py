"""``mcpwall serve``'s own setup (the command itself runs end to end in tests/admin)."""

from __future__ import annotations

import gc

from mcpwall.cli.serve import _freeze_startup_objects


def test_startup_objects_are_kept_out_of_the_collectors_full_passes() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        _freeze_startup_objects()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
