"""devhost on Azure's own Python worker library (`azure_functions_runtime`, Python 3.13+). See docs/devhost.md.

protocol.py  the host protocol's messages, our classes
host.py      what the Functions host does with the worker: init, index, load, invoke
routes.py    the host's HTTP routing from the worker's function metadata
http.py      the host's side of an HTTP trigger: the request into an invocation, its answer into a response
serve.py     the ASGI app devhost serves, and its banner
"""
