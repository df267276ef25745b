"""One module per migration, applied in ``down_revision`` order."""
