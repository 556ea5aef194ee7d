"""devhost on Azure's own Python worker library (`azure_functions_runtime`, Python 3.13+).

protocol.py  the host protocol's messages, our classes
host.py      what the Functions host does with the worker: init, index, load, invoke
http.py      what the Functions host does with HTTP: routes, the request and response conversions
"""
