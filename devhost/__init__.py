"""A local stand-in for the Azure Functions host (`func start`) and for Entra ID. Never deployed."""
