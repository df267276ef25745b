"""The admin API's OpenAPI 3.1 document, written by hand as data.

Written, not generated from the code: the document is the contract clients and the dashboard
rely on, so it is stated on its own and the code is tested against it (schemathesis sends it
every request the schemas allow and many they forbid, and checks every answer), which a
document derived from the code could never fail. A test also checks that its paths and
methods are exactly the app's routes.

Schemas are as strict as the server: request bodies refuse unknown members and give the
same patterns and ranges the server checks, and responses list every member they carry, so a
field that should not be there (a token, a secret value) is a schema violation.
"""

from __future__ import annotations

from typing import Any, get_args

from mcpwall.core import queryvalues
from mcpwall.core.audit import ACTION_CHOICES, MAX_PAGE_SIZE, OBJECT_KINDS
from mcpwall.core.durations import MAX_SECONDS
from mcpwall.core.logquery import DECISIONS, MAX_PAGE_SIZE as MAX_LOG_PAGE_SIZE, OUTCOMES
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.policy.compile import MATCHES, MAX_LIMIT, SCOPES
from mcpwall.core.policy.model import WINDOW_SECONDS
from mcpwall.core.policy.operators import OPERATORS
from mcpwall.core.proxylog import MAX_RULE_BYTES, Outcome

Schema = dict[str, Any]

SECURITY_SCHEME = "adminToken"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A JSON object with exactly these members."""
    return {
        "type": "object",
        "properties": required | (optional or {}),
        "required": list(required),
        "additionalProperties": False,
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def whole(low: int, high: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high}


# -- values ----------------------------------------------------------------------------------------

STRING: Schema = {"type": "string"}
NAME: Schema = {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$"}
TIME: Schema = {"type": "string", "format": "date-time"}
NO_NUL: Schema = {"type": "string", "pattern": "^[^\\u0000]*$"}
GRANT_REF: Schema = {
    "type": "string",
    "pattern": f"^(grt_[0-9a-f]{{16}}|{NAME_PATTERN.pattern})$",
    "description": "A grant's id (grt_…) or the label it holds.",
}
ADMIN_TOKEN_ID: Schema = {"type": "string", "pattern": "^adm_[0-9a-f]{16}$"}
STATUS: Schema = {"enum": ["active", "revoked", "expired"]}
ROLE: Schema = {
    "enum": ["admin", "policy_manager", "viewer"],
    "description": "admin ⊃ policy_manager ⊃ viewer.",
}
EXPIRES_IN: Schema = {
    **nullable(whole(1, MAX_SECONDS)),
    "description": "Lifetime in seconds (at most 100 years); absent or null: no expiry.",
}
MASKED: Schema = {"const": "***"}
AUDIT_TEXT: Schema = {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]{1,256}$"}
SINCE: Schema = {"type": "string", "pattern": f"^({queryvalues.SINCE.pattern})$"}
LOG_TOOL: Schema = {"type": "string", "pattern": "^[^\\u0000]{1,256}$"}
LOG_RULE: Schema = {"type": "string", "pattern": f"^[^\\u0000]{{1,{MAX_RULE_BYTES}}}$"}
PROBLEM = obj({"pointer": STRING, "message": STRING})

# The same checks as mcpwall.core.registry.Upstream.
ENV_KEY = "^[A-Za-z_][A-Za-z0-9_]{0,254}$"
HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$"
HEADER_VALUE: Schema = {"type": "string", "pattern": "^[^\\r\\n\\u0000]*$"}
URL: Schema = {
    "type": "string",
    "pattern": "^[hH][tT][tT][pP][sS]?://[^\\u0000-\\u0020\\u007f/?#]+([/?#][^\\u0000-\\u0020\\u007f]*)?$",
}


# -- the policy document (DESIGN §3); the engine is the authority, this is its outline ---------

CONDITION = obj(
    {"path": STRING, "op": {"enum": list(OPERATORS)}, "value": {}},
    {"match": {"enum": list(MATCHES)}},
)
ENTRY = obj({"conditions": array(CONDITION)}, {"on_deny": STRING})
LIMIT = obj(
    {
        "counter": STRING,
        "max": whole(0, MAX_LIMIT),
        "window": {"enum": list(WINDOW_SECONDS)},
    },
    {"scope": {"enum": list(SCOPES)}, "on_deny": STRING},
)
TOOL_RULES = obj({}, {"require": array(ENTRY), "deny_if": array(ENTRY), "limits": array(LIMIT)})
POLICY_DOCUMENT: Schema = {
    **obj(
        {"version": {"const": "1"}, "default": {"enum": ["allow", "deny"]}},
        {
            "mode": {"enum": ["enforce", "shadow"]},
            "hide": array(STRING),
            "all_tools": obj({}, {"limits": array(LIMIT)}),
            "tools": {"type": "object", "additionalProperties": TOOL_RULES},
        },
    ),
    "description": "A policy document (DESIGN §3). Validation goes further than this outline "
    "(regexes, operator values, shared counters): the answer lists every problem.",
}


# -- objects -----------------------------------------------------------------------------------

POLICY_VERSION = {
    "name": NAME,
    "version": whole(1, 2**31 - 1),
    "created_at": TIME,
    "created_by": STRING,
}
GRANT = {
    "id": STRING,
    "label": NAME,
    "bindings": {"type": "object", "additionalProperties": NAME},
    "created_at": TIME,
    "expires_at": nullable(TIME),
    "revoked_at": nullable(TIME),
    "last_used_at": nullable(TIME),
    "status": STATUS,
}
ADMIN_TOKEN = {
    "id": ADMIN_TOKEN_ID,
    "label": nullable(NAME),
    "role": ROLE,
    "created_at": TIME,
    "created_by": STRING,
    "expires_at": nullable(TIME),
    "revoked_at": nullable(TIME),
    "last_used_at": nullable(TIME),
    "status": STATUS,
}
PROXY_LOG_RECORD = {
    "id": whole(1, 2**63 - 1),
    "at": TIME,
    "request_id": STRING,
    "grant_id": STRING,
    "grant_label": STRING,
    "upstream": STRING,
    "method": STRING,
    "tool": {**STRING, "description": "Empty for methods other than tools/call."},
    "policy": STRING,
    "policy_version": whole(0, 2**31 - 1),
    "decision": {"enum": ["", *DECISIONS], "description": "Empty when no policy decided."},
    "rule": {**STRING, "description": "A JSON pointer into the policy, or (hidden) and such."},
    "message": STRING,
    "argument_keys": {
        **array(STRING),
        "description": "The top-level argument keys, sorted; never a value.",
    },
    "outcome": {"enum": list(get_args(Outcome))},
    "decision_ms": {"type": "number", "minimum": 0},
    "upstream_ms": {"type": "number", "minimum": 0},
    "total_ms": {"type": "number", "minimum": 0},
    "fail_open": {
        "type": "boolean",
        "description": "Let through with its limits unchecked (the counters were unreachable).",
    },
    "pin": {
        "enum": ["", "changed", "new", "suspicious", "unreadable"],
        "description": (
            "How the tool (or, for a listing, the first of its tools that was not) stood "
            "against its pin: empty when pinned as it is or not checked (pinning off)."
        ),
    },
}
SUMMARY_ROW = {
    "upstream": STRING,
    "tool": STRING,
    "decision": {"enum": list(DECISIONS)},
    "rule": STRING,
    "count": whole(1, 2**63 - 1),
    "last_seen": TIME,
}
TOKEN = {
    "token": {
        **STRING,
        "description": "The bearer token: shown in this answer only, stored as a hash.",
    }
}

# mcpwall.core.registry.Pinning: what the gateway does with a tool that differs from its pin.
PINNING: Schema = {"enum": ["enforce", "warn", "off"]}

# mcpwall.core.pins: a hash with its scheme, and what a tool's review says of it.
PIN_HASH: Schema = {"type": "string", "pattern": "^v1:[0-9a-f]{64}$"}
CHANGE: Schema = {"enum": ["added", "removed", "changed"]}
TOOL_PIN_STATUS: dict[str, Schema] = {
    "name": STRING,
    "status": {"enum": ["pinned", "changed", "new", "suspicious", "removed"]},
    "live_hash": nullable(PIN_HASH),
    "pinned_hash": nullable(PIN_HASH),
    "findings": array(STRING),
}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": obj({"code": STRING, "message": STRING}, {"problems": array(PROBLEM)})}),
    "Problem": PROBLEM,
    "StdioUpstream": obj(
        {
            "name": NAME,
            "kind": {"const": "stdio"},
            "command": STRING,
            "args": array(STRING),
            "cwd": nullable(STRING),
            "env": {"type": "object", "additionalProperties": MASKED},
            "pinning": PINNING,
        }
    ),
    "RemoteUpstream": obj(
        {
            "name": NAME,
            "kind": {"enum": ["http", "sse"]},
            "url": STRING,
            "headers": {"type": "object", "additionalProperties": MASKED},
            "pinning": PINNING,
        }
    ),
    "Upstream": {
        "oneOf": [ref("StdioUpstream"), ref("RemoteUpstream")],
        "description": "Env and header values are secrets: always shown as ***.",
    },
    "UpstreamList": obj({"upstreams": array(ref("Upstream"))}),
    "NewStdioUpstream": obj(
        {"name": NAME, "command": {**NO_NUL, "minLength": 1}},
        {
            "kind": {"const": "stdio"},
            "args": array(NO_NUL),
            "env": {
                "type": "object",
                "propertyNames": {"pattern": ENV_KEY},
                "additionalProperties": NO_NUL,
            },
            "cwd": nullable(NO_NUL),
            "pinning": {**PINNING, "default": "enforce"},
        },
    ),
    "NewRemoteUpstream": obj(
        {"name": NAME, "url": URL},
        {
            "kind": {"enum": ["http", "sse"], "default": "http"},
            "headers": {
                "type": "object",
                "propertyNames": {"pattern": HEADER_NAME},
                "additionalProperties": HEADER_VALUE,
            },
            "pinning": {**PINNING, "default": "enforce"},
        },
    ),
    "NewUpstream": {
        "oneOf": [ref("NewStdioUpstream"), ref("NewRemoteUpstream")],
        "description": "A command to spawn (stdio), or a Streamable HTTP or legacy SSE URL.",
    },
    "ToolPinStatus": obj(
        TOOL_PIN_STATUS | {"description": {**STRING, "description": "The first line, shortened."}}
    ),
    "InstructionsPinStatus": obj(
        {
            "status": {"enum": ["pinned", "changed", "new", "suspicious"]},
            "live_hash": PIN_HASH,
            "pinned_hash": nullable(PIN_HASH),
            "findings": array(STRING),
        }
    ),
    "PinReview": obj(
        {
            "upstream": NAME,
            "pinning": PINNING,
            "complete": {
                "type": "boolean",
                "description": "False when the listing had more pages than the gateway reads.",
            },
            "tools": array(ref("ToolPinStatus")),
            "instructions": ref("InstructionsPinStatus"),
        }
    ),
    "ToolDiff": obj(
        {"upstream": NAME}
        | TOOL_PIN_STATUS
        | {
            "fields": array(
                obj(
                    {"field": STRING, "change": CHANGE},
                    {
                        "text_diff": array(STRING),
                        "changes": array(
                            obj(
                                {
                                    "pointer": STRING,
                                    "change": CHANGE,
                                    "old": nullable(STRING),
                                    "new": nullable(STRING),
                                }
                            )
                        ),
                    },
                )
            ),
            "lines": array(STRING),
            "pinned": nullable({"type": "object"}),
            "live": nullable({"type": "object"}),
        }
    ),
    "AcceptTools": obj(
        {},
        {
            "tools": array(STRING),
            "all": {"type": "boolean", "default": False},
            "instructions": {"type": "boolean", "default": False},
            "expect": nullable(STRING),
        },
    ),
    "Accepted": obj(
        {
            "upstream": NAME,
            "pinned": {"type": "object", "additionalProperties": PIN_HASH},
            "unpinned": array(STRING),
            "instructions": {"type": "boolean"},
            "skipped": {"type": "object", "additionalProperties": STRING},
        }
    ),
    "PolicyVersion": obj(POLICY_VERSION),
    "PolicyText": obj(
        POLICY_VERSION | {"text": {**STRING, "description": "The document exactly as set."}}
    ),
    "PolicySet": obj(POLICY_VERSION | {"warnings": array(ref("Problem"))}),
    "PolicyList": obj({"policies": array(ref("PolicyVersion"))}),
    "PolicyVersionList": obj({"versions": array(ref("PolicyVersion"))}),
    "PolicyDocument": POLICY_DOCUMENT,
    "Grant": obj(GRANT),
    "IssuedGrant": obj(GRANT | TOKEN),
    "GrantList": obj({"grants": array(ref("Grant"))}),
    "NewGrant": obj(
        {
            "label": NAME,
            "bindings": {
                "type": "object",
                "propertyNames": NAME,
                "additionalProperties": NAME,
                "minProperties": 1,
                "description": "upstream → policy",
            },
        },
        {"expires_in": EXPIRES_IN},
    ),
    "AdminToken": obj(ADMIN_TOKEN),
    "IssuedAdminToken": obj(ADMIN_TOKEN | TOKEN),
    "AdminTokenList": obj({"admin_tokens": array(ref("AdminToken"))}),
    "NewAdminToken": obj({"role": ROLE}, {"label": nullable(NAME), "expires_in": EXPIRES_IN}),
    "AuditEvent": obj(
        {
            "id": whole(1, 2**63 - 1),
            "at": TIME,
            "actor": STRING,
            "action": STRING,
            "object_kind": STRING,
            "object_id": STRING,
            "details": {"type": "object"},
        }
    ),
    "ProxyLogRecord": obj(PROXY_LOG_RECORD),
    "ProxyLogPage": obj(
        {
            "records": array(ref("ProxyLogRecord")),
            "next_before": {
                **nullable(whole(1, 2**63 - 1)),
                "description": "Pass as before= for the next page; null on the last one.",
            },
        }
    ),
    "ProxyLogSummaryRow": obj(SUMMARY_ROW),
    "ProxyLogSummary": obj({"since": TIME, "rows": array(ref("ProxyLogSummaryRow"))}),
    "AuditPage": obj(
        {
            "events": array(ref("AuditEvent")),
            "next_before": {
                **nullable(whole(1, 2**63 - 1)),
                "description": "Pass as before= for the next page; null on the last one.",
            },
        }
    ),
}


# -- operations ----------------------------------------------------------------------------------

ERRORS = {
    400: "The body is not strict JSON (duplicate keys, lone surrogates and NaN are refused).",
    401: "No admin token, or one that is unknown, revoked or expired.",
    403: "The token's role is too low.",
    404: "No such object.",
    409: "The change collides with what is stored.",
    413: "The body is over 1 MiB.",
    415: "The body's media type is not one this operation reads.",
    422: "A value, body, query or document is invalid; problems lists each one.",
    502: "The upstream could not be reached or listed; the message says why.",
    503: "The database is unavailable.",
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'Bearer realm="mcpwall admin", with error= on an invalid token or role',
        "required": True,
        "schema": STRING,
    }
}


def json_content(schema: Schema, example: object = None) -> Schema:
    media: Schema = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def error(status: int) -> Schema:
    response: Schema = {"description": ERRORS[status], "content": json_content(ref("Error"))}
    if status in (401, 403):
        response["headers"] = WWW_AUTHENTICATE
    return response


def operation(
    summary: str,
    role: str,
    ok: tuple[int, str | None],
    errors: tuple[int, ...] = (),
    *,
    body: Schema | None = None,
    parameters: tuple[Schema, ...] = (),
) -> Schema:
    """An operation needing ``role``, answering ``ok`` (status, schema) or one of ``errors``."""
    status, schema = ok
    success: Schema = {"description": "Done."}
    if schema is not None:
        success["content"] = json_content(ref(schema))
    statuses = {401, 422, 503, *errors}
    if role != "viewer":
        statuses.add(403)
    if body is not None:
        statuses |= {413, 415}
    result: Schema = {
        "summary": summary,
        "description": f"Needs role {role} or higher.",
        "responses": {str(status): success} | {str(s): error(s) for s in sorted(statuses)},
    }
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = {"required": True, "content": body}
    return result


def path(name: str, schema: Schema, example: object = None) -> Schema:
    parameter = {"name": name, "in": "path", "required": True, "schema": schema}
    return parameter | ({"example": example} if example is not None else {})


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


UPSTREAM_NAME = path("name", NAME, "kubernetes")
POLICY_NAME = path("name", NAME, "kubernetes-nonprod")
REF = path("ref", GRANT_REF, "ci-runner")
NEW_UPSTREAM = json_content(
    ref("NewUpstream"),
    {
        "name": "kubernetes",
        "command": "npx",
        "args": ["-y", "mcp-server-kubernetes"],
        "env": {"KUBECONFIG": "/home/agent/.kube/config"},
    },
)
TOOL_NAME = path("tool", {**STRING, "minLength": 1}, "delete_pod")
ACCEPT_TOOLS = json_content(
    ref("AcceptTools"),
    {"tools": ["delete_pod"], "expect": "v1:" + "0" * 64},
)
NEW_GRANT = json_content(
    ref("NewGrant"),
    {"label": "ci-runner", "bindings": {"kubernetes": "kubernetes-nonprod"}, "expires_in": 2592000},
)
NEW_ADMIN_TOKEN = json_content(ref("NewAdminToken"), {"role": "viewer", "label": "alice"})
POLICY_EXAMPLE = {
    "version": "1",
    "default": "allow",
    "hide": ["delete_namespace"],
    "tools": {
        "delete_pod": {
            "require": [
                {
                    "conditions": [
                        {"path": "args.namespace", "op": "in", "value": ["dev", "staging"]}
                    ],
                    "on_deny": "Namespace is outside the allowed non-production set.",
                }
            ]
        }
    },
}
POLICY_BODY = {
    **json_content(ref("PolicyDocument"), POLICY_EXAMPLE),
    "application/yaml": {"schema": {"type": "string", "description": "The document as YAML."}},
}

PATHS: dict[str, Schema] = {
    "/api/openapi.json": {
        "get": {
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1.", "content": json_content({"type": "object"})}
            },
        }
    },
    "/api/upstreams": {
        "get": operation("List upstreams.", "viewer", (200, "UpstreamList")),
        "post": operation(
            "Register an upstream.",
            "admin",
            (201, "Upstream"),
            (400, 409),
            body=NEW_UPSTREAM,
        ),
    },
    "/api/upstreams/{name}": {
        "get": operation("Show an upstream.", "viewer", (200, "Upstream"), (404,),
                         parameters=(UPSTREAM_NAME,)),
        "delete": operation(
            "Remove an upstream; refused (409) while active grants are bound to it.",
            "admin", (204, None), (404, 409), parameters=(UPSTREAM_NAME,),
        ),
    },
    "/api/upstreams/{name}/tools": {
        "get": operation(
            "Review the upstream's tools: each as it sends them now against its pin (pinned, "
            "changed, new, suspicious, removed), with hashes and findings, and its instructions.",
            "viewer", (200, "PinReview"), (404, 502), parameters=(UPSTREAM_NAME,),
        ),
    },
    "/api/upstreams/{name}/tools/{tool}/diff": {
        "get": operation(
            "What differs between a tool's pinned and live definitions, field by field, with "
            "both definitions and the live hash to send back as expect.",
            "viewer", (200, "ToolDiff"), (404, 502), parameters=(UPSTREAM_NAME, TOOL_NAME),
        ),
    },
    "/api/upstreams/{name}/accept": {
        "post": operation(
            "Pin the live definitions of the tools named, or with all of every changed and new "
            "tool (dropping the pins of removed ones; suspicious tools only when named), and "
            "with instructions the server's instructions. With expect (one tool), refused "
            "(409) if the tool's live hash differs: it changed again after the review.",
            "admin", (200, "Accepted"), (400, 404, 409, 502), parameters=(UPSTREAM_NAME,),
            body=ACCEPT_TOOLS,
        ),
    },
    "/api/policies": {
        "get": operation(
            "List policies at their current version: when set, and by whom.",
            "viewer", (200, "PolicyList"),
        ),
    },
    "/api/policies/{name}": {
        "get": operation("Show the current version, with its text.", "viewer",
                         (200, "PolicyText"), (404,), parameters=(POLICY_NAME,)),
        "put": operation(
            "Validate a document and store it as the policy's next version. The body is the "
            "document exactly as a file (JSON or YAML). An invalid one is never stored.",
            "policy_manager", (200, "PolicySet"), parameters=(POLICY_NAME,), body=POLICY_BODY,
        ),
    },
    "/api/policies/{name}/versions": {
        "get": operation("List every version, oldest first.", "viewer",
                         (200, "PolicyVersionList"), (404,), parameters=(POLICY_NAME,)),
    },
    "/api/policies/{name}/versions/{version}": {
        "get": operation(
            "Show a version, with its exact text.", "viewer", (200, "PolicyText"), (404,),
            parameters=(POLICY_NAME, path("version", whole(1, 2**31 - 1), 1)),
        ),
    },
    "/api/grants": {
        "get": operation("List grants; never a token.", "viewer", (200, "GrantList")),
        "post": operation(
            "Issue a grant. Its token is in this answer only.", "admin", (201, "IssuedGrant"),
            (400, 404, 409), body=NEW_GRANT,
        ),
    },
    "/api/grants/{ref}": {
        "get": operation("Show a grant.", "viewer", (200, "Grant"), (404,), parameters=(REF,)),
    },
    "/api/grants/{ref}/revoke": {
        "post": operation("Revoke a grant now; revoking a revoked grant changes nothing.",
                          "admin", (200, "Grant"), (404,), parameters=(REF,)),
    },
    "/api/grants/{ref}/rotate": {
        "post": operation(
            "Give an active grant a new token (in this answer only); the old one stops working.",
            "admin", (200, "IssuedGrant"), (404, 409), parameters=(REF,),
        ),
    },
    "/api/admin-tokens": {
        "get": operation("List admin tokens; never a token itself.", "viewer",
                         (200, "AdminTokenList")),
        "post": operation(
            "Create an admin token. The token is in this answer only.", "admin",
            (201, "IssuedAdminToken"), (400, 409), body=NEW_ADMIN_TOKEN,
        ),
    },
    "/api/admin-tokens/{id}/revoke": {
        "post": operation("Revoke an admin token now.", "admin", (200, "AdminToken"),
                          (404,), parameters=(path("id", ADMIN_TOKEN_ID),)),
    },
    "/api/audit": {
        "get": operation(
            "The admin audit trail, newest first: who changed what, when. Never a secret.",
            "viewer", (200, "AuditPage"),
            parameters=(
                query("limit", whole(1, MAX_PAGE_SIZE), "Page size (default 100)."),
                query("before", whole(1, 2**63 - 1), "Events with smaller ids only."),
                query("actor", AUDIT_TEXT, "Only changes made by this actor (exactly)."),
                query("action", {"enum": list(ACTION_CHOICES)},
                      "Only this action, or this kind of action (grant: every grant.*)."),
                query("object_kind", {"enum": list(OBJECT_KINDS)}, "Only this kind of object."),
                query("object_id", AUDIT_TEXT, "Only this object (a name or an id)."),
            ),
        ),
    },
    "/api/logs": {
        "get": operation(
            "The proxy log, newest first: one row per agent request, with its decision and "
            "the rule that made it. Argument keys only, never values.",
            "viewer", (200, "ProxyLogPage"),
            parameters=(
                query("since", SINCE, "Only rows this recent (7d, 12h, 30m)."),
                query("decision", {"enum": list(DECISIONS)}, "Only this decision."),
                query("tool", LOG_TOOL, "Only calls of this tool."),
                query("grant", GRANT_REF, "Only this grant (id or label)."),
                query("upstream", NAME, "Only this upstream."),
                query("rule", LOG_RULE, "Only rows decided by this rule (a pointer or a name)."),
                query("outcome", {"enum": list(OUTCOMES)}, "Only rows with this outcome."),
                query("method", LOG_TOOL, "Only requests of this JSON-RPC method."),
                query("limit", whole(1, MAX_LOG_PAGE_SIZE), "Page size (default 100)."),
                query("before", whole(1, 2**63 - 1), "Rows with smaller ids only."),
            ),
        ),
    },
    "/api/logs/summary": {
        "get": operation(
            "Which guardrails fired: decided calls counted by upstream, tool, decision and "
            "rule, with when each last happened; denials first, most frequent first.",
            "viewer", (200, "ProxyLogSummary"),
            parameters=(query("since", SINCE, "How far back (default 7d)."),),
        ),
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics: decisions by upstream, tool, decision and rule; "
            "latency histograms; upstream health; the proxy log's queue.",
            "description": "Needs role viewer or higher.",
            "responses": {
                "200": {
                    "description": "The Prometheus text format.",
                    "content": {"text/plain": {"schema": STRING}},
                },
                "401": error(401),
                "503": error(503),
            },
        },
    },
}  # fmt: skip

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "mcpwall admin API",
        "version": "1",
        "description": "Upstreams, versioned policies, grants, admin tokens, the admin audit "
        "trail and the proxy log of an mcpwall gateway. Every change is recorded in the audit "
        "trail with the admin token that made it. Errors have the body "
        '{"error": {"code", "message", "problems"?}}.',
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "An admin token (mcpwa_…) from: mcpwall admin token create "
                "--role admin|policy_manager|viewer",
            }
        },
    },
    "security": [{SECURITY_SCHEME: []}],
}
