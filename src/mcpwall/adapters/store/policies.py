"""Policies in SQL: a row per policy naming its current version, a row per version."""

from __future__ import annotations

from sqlalchemy import ColumnElement, insert, select, update

from mcpwall.adapters.store import rows
from mcpwall.adapters.store.schema import policies, policy_versions
from mcpwall.adapters.store.transactions import SQLBase
from mcpwall.core.audit import policy_change
from mcpwall.core.errors import NotFound
from mcpwall.core.names import check_name
from mcpwall.core.registry import PolicyVersion, policy_version_not_found

# The version column of the current version of a policy, for joins against ``policies``.
_CURRENT = policies.c.current_version


class SQLPolicies(SQLBase):
    """The ``PolicyStore`` part of ``SQLStore``."""

    def add_policy_version(self, name: str, text: str, *, actor: str) -> PolicyVersion:
        check_name(name, "policy name")
        with self._change(actor) as change:
            connection = change.connection
            where = policies.c.name == name
            current = connection.execute(select(policies.c.current_version).where(where)).scalar()
            version = 1 if current is None else current + 1
            if current is None:
                policy = {"name": name, "current_version": 1, "created_at": change.now}
                connection.execute(insert(policies).values(policy))
            else:
                connection.execute(update(policies).where(where).values(current_version=version))
            added = PolicyVersion(name, version, text, change.now, actor)
            connection.execute(insert(policy_versions).values(rows.columns_of(added)))
            change.record(policy_change(added))
        return added

    def get_policy(self, name: str, version: int | None = None) -> PolicyVersion:
        wanted = _CURRENT if version is None else version
        found = self._policy_versions_where(policy_versions.c.version == wanted, name)
        if found:
            return found[0]
        if version is None:
            raise NotFound("policy", name)
        latest = self.get_policy(name).version  # NotFound if there is no such policy
        raise policy_version_not_found(name, version, latest)

    def list_policies(self) -> list[PolicyVersion]:
        return self._policy_versions_where(policy_versions.c.version == _CURRENT)

    def list_policy_versions(self, name: str) -> list[PolicyVersion]:
        found = self._policy_versions_where(policy_versions.c.name == name)
        if not found:
            raise NotFound("policy", name)
        return found

    def _policy_versions_where(
        self, condition: ColumnElement[bool], name: str | None = None
    ) -> list[PolicyVersion]:
        query = (
            select(policy_versions)
            .join(policies, policies.c.name == policy_versions.c.name)
            .where(condition)
            .order_by(policy_versions.c.name, policy_versions.c.version)
        )
        if name is not None:
            query = query.where(policy_versions.c.name == name)
        with self._transaction() as connection:
            return [rows.policy_version_from(row) for row in connection.execute(query)]
