"""Microsoft Graph as the signed-in user: the on-behalf-of exchange (`obo`), the profile call
(`profile`), what its failures mean (`errors`) and the profile's fields (`schema`).

Imports `shared.auth` (the caller) and `shared.settings` only; the route and the tool above it
turn a `GraphError` into an HTTP answer or a tool error.
"""
