"""The Graph profile's shape: what is asked of Graph (`$select`) and what the route and the tool return.

Kept apart from the on-behalf-of machinery so the MCP server can describe the tool's output
without importing it (cold start).
"""

from __future__ import annotations

from typing import TypedDict

# Functional syntax: Graph's camelCase names are not Python attribute names.
GraphProfile = TypedDict(  # noqa: UP013
    "GraphProfile",
    {
        "id": str,
        "displayName": str | None,
        "givenName": str | None,
        "surname": str | None,
        "userPrincipalName": str | None,
        "mail": str | None,
        "jobTitle": str | None,
        "officeLocation": str | None,
        "mobilePhone": str | None,
        "businessPhones": list[str],
        "preferredLanguage": str | None,
    },
    total=False,
)
# Exactly the fields of the tool's output schema.
PROFILE_FIELDS = tuple(GraphProfile.__annotations__)
