"""Offline checks of the deployment (infra/, azure.yaml): no Azure access and no Bicep compiler needed.

- every .bicep file parses with pycep-parser, the parser Checkov uses;
- resource bodies match the official Bicep type definitions (tests/infra_schema.py), and the checker is shown to
  catch misspelt properties, properties at the wrong level and bad enum literals;
- the app settings the templates set match the settings table the app reads (shared.settings.SPECS);
- `checkov --framework bicep` passes, with every skip written beside its resource with a reason;
- the security properties and outputs the deployment promises are present.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import infra_schema as schema
import pytest
import yaml
from lark.exceptions import LarkError
from pycep.transformer import BicepElement

from devhost import sampling
from shared.mcp import tools
from shared.mcp.permissions import ToolPolicy
from shared.settings import SPECS, load_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

INFRA = ROOT / "infra"
VS_CODE_CLIENT_ID = "aebc6443-996d-45c2-90f0-388ff96faa56"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_USER_READ_SCOPE_ID = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"

# App settings read by the Azure Functions host and worker rather than by the app, so they are not in SPECS:
# identity-based host storage (AzureWebJobsStorage__credential/clientId/blobServiceUri), Application Insights
# with Entra authentication (APPLICATIONINSIGHTS_CONNECTION_STRING/AUTHENTICATION_STRING) and the worker's
# Azure Monitor distro (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY, OTEL_TRACES_SAMPLER and its argument).
HOST_SETTING_PREFIXES = (
    "AzureWebJobsStorage__",
    "APPLICATIONINSIGHTS_",
    "PYTHON_APPLICATIONINSIGHTS_",
    "OTEL_TRACES_SAMPLER",
)


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def parsed(name: str) -> dict[str, Any]:
    return schema.parse_file(INFRA / name)


def resources_of_type(resource_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(file, body) of every resource of a type declared (not `existing`) in any template."""
    found = []
    for path in schema.bicep_files():
        for resource in schema.parse_file(path).get("resources", {}).values():
            if resource["type"].lower() == resource_type.lower() and not resource["existing"]:
                found.append((path.relative_to(INFRA).as_posix(), schema.unwrap(resource["config"])))
    return found


def only(resource_type: str) -> dict[str, Any]:
    found = resources_of_type(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {[f for f, _ in found]}"
    return found[0][1]


def call_name(value: Any) -> str | None:
    """The function a pycep value calls, e.g. 'guid', or None."""
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        return value["function"]["type"]
    return None


def accessor_chain(value: Any) -> list[str] | None:
    """`identity.outputs.clientId` as ['identity', 'outputs', 'clientId']; None for anything else."""
    if isinstance(value, BicepElement):
        return [str(value)]
    operator = value.get("operator") if isinstance(value, dict) else None
    if isinstance(operator, dict) and operator.get("type") == "property_accessor":
        left = accessor_chain(operator["operands"]["operand_1"])
        right = accessor_chain(operator["operands"]["operand_2"])
        if left is not None and right is not None:
            return left + right
    return None


def module_param(module_symbol: str, name: str) -> Any:
    return schema.unwrap(parsed("main.bicep")["modules"][module_symbol]["config"])["params"][name]


def function_app_settings() -> dict[str, Any]:
    """name -> value of the Function App's app settings, which must be a literal list of literal names."""
    # Settings set through a separate config resource would escape the drift tests below.
    assert not resources_of_type("Microsoft.Web/sites/config")
    entries = only("Microsoft.Web/sites")["properties"]["siteConfig"]["appSettings"]
    assert isinstance(entries, list) and entries, "appSettings must be a literal array"
    settings: dict[str, Any] = {}
    for entry in entries:
        assert set(entry) == {"name", "value"}, entry
        name = entry["name"]
        assert isinstance(name, str) and not schema.is_expression(name), f"computed setting name {name!r}"
        assert name not in settings, f"{name} set twice"
        settings[name] = entry["value"]
    return settings


def bicep_default(param: dict[str, Any]) -> Any:
    """A parameter's default; None both without one and for `= null` (pycep reads them alike)."""
    return param.get("default")


# ---------------------------------------------------------------------------------------------------------------
# Parsing and the Graph extension
# ---------------------------------------------------------------------------------------------------------------

EXPECTED_FILES = {
    "main.bicep",
    "modules/monitoring.bicep",
    "modules/storage.bicep",
    "modules/identity.bicep",
    "modules/function-app.bicep",
    "modules/entra.bicep",
    "modules/role-assignments.bicep",
}


def test_one_module_per_concern() -> None:
    assert {p.relative_to(INFRA).as_posix() for p in schema.bicep_files()} == EXPECTED_FILES


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_bicep_file_parses_with_pycep(name: str) -> None:
    text = (INFRA / name).read_text()
    # The one adjustment made before parsing (see infra_schema.EXTENSION_STATEMENT): only this statement.
    assert schema.EXTENSION_STATEMENT.findall(text) in ([], ["extension microsoftGraphV1"])
    result = schema.parse_bicep(text)
    assert result.get("resources") or result.get("modules"), f"{name} declares nothing"


def test_parser_rejects_broken_bicep() -> None:
    with pytest.raises((LarkError, ValueError)):
        schema.parse_bicep("resource x 'Microsoft.Web/sites@2024-11-01' = {\n  name: 'a'\n")


def test_graph_extension_is_configured_and_declared_where_used() -> None:
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    reference = config["extensions"]["microsoftGraphV1"]
    match = re.fullmatch(r"br:mcr\.microsoft\.com/bicep/extensions/microsoftgraph/v1\.0:(\d+\.\d+\.\d+)", reference)
    assert match, reference
    # The vendored Graph types are those of the extension version the templates compile against.
    assert (HERE / "infra_types" / "microsoft.graph" / f"v1.0-{match[1]}.json").is_file()
    for path in schema.bicep_files():
        uses_graph = any(
            r["type"].startswith("Microsoft.Graph/") for r in schema.parse_file(path)["resources"].values()
        )
        declares = bool(schema.EXTENSION_STATEMENT.search(path.read_text()))
        assert uses_graph == declares, path.name


def test_no_registry_modules() -> None:
    for path in schema.bicep_files():
        for symbol, module in schema.parse_file(path).get("modules", {}).items():
            assert module["type"] == "local", f"{path.name}:{symbol} uses {module['detail']}"


# ---------------------------------------------------------------------------------------------------------------
# Resource bodies against the official type definitions
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def types() -> schema.Schema:
    return schema.Schema.load()


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_resource_bodies_match_the_type_definitions(name: str, types: schema.Schema) -> None:
    result = parsed(name)
    assert schema.check_resources(result, types, name) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_module_calls_match_module_parameters(name: str) -> None:
    path = INFRA / name
    assert schema.check_module_calls(schema.parse_file(path), path.parent, name) == []


def test_module_output_references_exist() -> None:
    main = parsed("main.bicep")
    text = (INFRA / "main.bicep").read_text()
    references = re.findall(r"\b(\w+)\.outputs\.(\w+)", text)
    assert len(references) >= 10
    for symbol, output in references:
        module = main["modules"][symbol]
        outputs = schema.parse_file(INFRA / module["detail"]["path"]).get("outputs", {})
        assert output in outputs, f"{symbol}.outputs.{output}: {module['detail']['path']} has no such output"


MUTATIONS = [
    # (file, original, mutated, expected error fragment)
    ("modules/function-app.bicep", "httpsOnly: true", "httpsOnyl: true", "httpsOnyl: unknown property"),
    (  # at the wrong level: minTlsVersion belongs in siteConfig
        "modules/function-app.bicep",
        "    httpsOnly: true\n",
        "    httpsOnly: true\n    minTlsVersion: '1.2'\n",
        "properties.minTlsVersion: unknown property",
    ),
    (  # at the wrong level: httpsOnly belongs in properties, not siteConfig
        "modules/function-app.bicep",
        "      ftpsState: 'Disabled'\n",
        "      ftpsState: 'Disabled'\n      httpsOnly: true\n",
        "siteConfig.httpsOnly: unknown property",
    ),
    ("modules/function-app.bicep", "ftpsState: 'Disabled'", "ftpsState: 'Disable'", "'Disable' is not one of"),
    ("modules/function-app.bicep", "name: 'python'", "name: 'python3'", "runtime.name: 'python3' is not one of"),
    ("modules/function-app.bicep", "allow: false", "allow: 'false'", "allow: expected a bool"),
    ("modules/function-app.bicep", "name: 'scm'", "name: 'ssh'", "name='ssh' is not one of"),
    ("modules/function-app.bicep", "sites@2024-11-01", "sites@2024-11-31", "no type definition"),
    ("modules/storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1.2'", "is not one of"),
    ("modules/storage.bicep", "  kind: 'StorageV2'\n", "", "kind: required property missing"),
    ("modules/storage.bicep", "publicAccess: 'None'", "publicAccess: 'none'", "is not one of"),
    ("modules/monitoring.bicep", "DisableLocalAuth: true", "disableLocalAuth: true", "did you mean 'DisableLocalAuth'"),
    ("modules/role-assignments.bicep", "principalType: 'ServicePrincipal'", "principalType: 'MSI'", "is not one of"),
    ("modules/entra.bicep", "requestedAccessTokenVersion: 2", "requestedAccessTokenVersion: '2'", "expected an int"),
    ("modules/entra.bicep", "allowedMemberTypes", "allowedMemberType", "allowedMemberType: unknown property"),
    ("modules/entra.bicep", "      appId: trim(clientId)", "      clientId: trim(clientId)", "[for].clientId"),
    ("modules/entra.bicep", "  uniqueName: appUniqueName\n", "", "uniqueName: required property missing"),
    ("modules/entra.bicep", "  subject: managed", "  subjects: managed", "subjects: unknown property"),
]


@pytest.mark.parametrize(("name", "original", "mutated", "expected"), MUTATIONS)
def test_checker_catches_mistakes(name: str, original: str, mutated: str, expected: str, types: schema.Schema) -> None:
    text = (INFRA / name).read_text()
    assert original in text, f"mutation anchor {original!r} not in {name}"
    errors = schema.check_resources(schema.parse_bicep(text.replace(original, mutated, 1)), types)
    assert any(expected in error for error in errors), errors


def test_checker_catches_bad_module_parameters() -> None:
    text = (INFRA / "main.bicep").read_text()
    for original, mutated, expected in [
        ("    pythonVersion: pythonVersion\n", "    pythonVersio: pythonVersion\n", "pythonVersio: function-app"),
        ("    pythonVersion: pythonVersion\n", "", "pythonVersion: required by function-app.bicep"),
        ("    pythonVersion: pythonVersion\n", "    pythonVersion: '3.9'\n", "'3.9' is not one of"),
    ]:
        assert text.count(original) == 1
        errors = schema.check_module_calls(schema.parse_bicep(text.replace(original, mutated)), INFRA)
        assert any(expected in error for error in errors), (mutated, errors)


def test_vendored_types_match_the_official_definitions() -> None:
    source = schema.SHARED_TYPES_DIR
    if not source.is_dir():
        pytest.skip(f"{source} (the full Bicep type definitions) is not beside the repository")
    expected = schema.trimmed_type_files(source, schema.used_resource_types(schema.bicep_files()))
    vendored = {p.relative_to(schema.TYPES_DIR).as_posix() for p in schema.TYPES_DIR.rglob("*.json")}
    assert vendored == set(expected), "run: python tests/infra_schema.py"
    for relative, trimmed in expected.items():
        assert (schema.TYPES_DIR / relative).read_text() == schema.dump_types(trimmed), relative


# ---------------------------------------------------------------------------------------------------------------
# App settings against the settings the app reads
# ---------------------------------------------------------------------------------------------------------------


def settings_drift(names: set[str]) -> dict[str, set[str]]:
    """How a set of app setting names departs from the settings table (SPECS); all empty when it matches."""
    read_by_app = {spec.name for spec in SPECS if not spec.platform}
    return {
        # set, but read by neither the app nor the host
        "unread": {n for n in names if n not in read_by_app and not n.startswith(HOST_SETTING_PREFIXES)},
        # required in production, but left unset
        "missing": {spec.name for spec in SPECS if spec.production and not spec.platform} - names,
        # secrets are never deployed in settings; platform settings are the platform's to set
        "forbidden": names & {spec.name for spec in SPECS if spec.secret or spec.platform},
    }


def test_app_settings_match_the_settings_the_app_reads() -> None:
    names = set(function_app_settings())
    assert settings_drift(names) == {"unread": set(), "missing": set(), "forbidden": set()}
    production = {spec.name for spec in SPECS if spec.production and not spec.platform}
    assert {"ENVIRONMENT", "ENABLE_AUTH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"} <= production <= names


@pytest.mark.parametrize(
    ("change", "kind", "name"),
    [
        (lambda names: names | {"LOG_LEVEL"}, "unread", "LOG_LEVEL"),
        (lambda names: names | {"AzureWebJobsStorage"}, "unread", "AzureWebJobsStorage"),
        (lambda names: names - {"ENVIRONMENT"}, "missing", "ENVIRONMENT"),
        (lambda names: names - {"REQUIRED_ROLES"}, "missing", "REQUIRED_ROLES"),
        (lambda names: names | {"AZURE_CLIENT_SECRET"}, "forbidden", "AZURE_CLIENT_SECRET"),
        (lambda names: names | {"WEBSITE_HOSTNAME"}, "forbidden", "WEBSITE_HOSTNAME"),
    ],
)
def test_settings_drift_is_caught(change: Any, kind: str, name: str) -> None:
    assert name in settings_drift(change(set(function_app_settings())))[kind]


def test_no_secret_is_created_or_read() -> None:
    text = "\n".join(p.read_text() for p in [*schema.bicep_files(), INFRA / "main.parameters.json"])
    for spec in SPECS:
        if spec.secret:
            assert spec.name not in text
    # Nothing that creates or reads a secret: client secrets, certificates, storage keys.
    for word in ("passwordCredentials", "keyCredentials", "listKeys", "clientSecret", "AccountKey="):
        assert word not in text, word


def test_host_storage_is_identity_based() -> None:
    settings = function_app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings  # a connection string would carry an account key
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    # Telemetry: the worker's OpenTelemetry mode with Azure Monitor, the distro in the app's packages, and
    # the host in OpenTelemetry mode too, so host and worker spans share one trace.
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    assert re.search(r"^azure-monitor-opentelemetry>=1\.8\.6,", (ROOT / "requirements.txt").read_text(), re.M)
    assert json.loads((ROOT / "host.json").read_text())["telemetryMode"] == "OpenTelemetry"


def test_trace_sampling_is_the_one_devhost_and_the_benchmark_use() -> None:
    """The deployed sampler (the distro's default, made explicit) is devhost's AZURE_DEFAULT, which make bench's
    "telemetry on" runs with: the figure it reports is the deployment's."""
    settings = function_app_settings()
    declared = parsed("main.bicep")["parameters"]
    assert module_param("functionApp", "tracesPerSecond") == "tracesPerSecond"
    assert settings["OTEL_TRACES_SAMPLER"] == sampling.AZURE_DEFAULT["OTEL_TRACES_SAMPLER"]
    assert call_name(settings["OTEL_TRACES_SAMPLER_ARG"]) == "string"
    assert str(bicep_default(declared["tracesPerSecond"])) == sampling.AZURE_DEFAULT["OTEL_TRACES_SAMPLER_ARG"]


def test_app_settings_are_wired_from_the_resources() -> None:
    settings = function_app_settings()
    assert settings["ENABLE_AUTH"] == "true"
    assert settings["ENVIRONMENT"] == "production"
    entra = parsed("modules/entra.bicep")["variables"]
    assert settings["REQUIRED_SCOPES"] == entra["scopeValue"]["value"] == "user_impersonation"
    assert settings["REQUIRED_ROLES"] == entra["appRoleValue"]["value"] == "MCP.Invoke"
    # Every scope a tool declares is a scope of the app registration.
    policy = ToolPolicy(tools.ALL, load_settings({}))
    assert policy.scopes() == (entra["profileScopeValue"]["value"],) == ("Profile.Read",)
    # Settings whose values come from other resources: the module parameter, then what main.bicep passes.
    wiring = {
        "AZURE_TENANT_ID": ("tenantId", None),
        "AZURE_CLIENT_ID": ("clientId", ["entra", "outputs", "appId"]),
        "TOKEN_AUDIENCE": ("identifierUri", ["entra", "outputs", "identifierUri"]),
        "MANAGED_IDENTITY_CLIENT_ID": ("identityClientId", ["identity", "outputs", "clientId"]),
        "AzureWebJobsStorage__blobServiceUri": ("blobEndpoint", ["storage", "outputs", "blobEndpoint"]),
        "OAUTH_PROXY_TABLE_ENDPOINT": ("tableEndpoint", ["storage", "outputs", "tableEndpoint"]),
        "OAUTH_PROXY_TABLE": ("oauthTableName", ["storage", "outputs", "oauthTableName"]),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "applicationInsightsConnectionString",
            ["monitoring", "outputs", "connectionString"],
        ),
    }
    for setting, (param, source) in wiring.items():
        assert settings[setting] == param, setting
        passed = module_param("functionApp", param)
        if source is None:
            assert call_name(passed) == "tenant", setting
        else:
            assert accessor_chain(passed) == source, setting
    identity = parsed("modules/identity.bicep")["outputs"]
    assert accessor_chain(identity["clientId"]["value"]) == ["identity", "properties", "clientId"]
    entra_outputs = parsed("modules/entra.bicep")["outputs"]
    assert accessor_chain(entra_outputs["appId"]["value"]) == ["app", "appId"]


def test_the_app_accepts_the_settings_the_templates_produce() -> None:
    tenant, client, identity = (
        "11111111-1111-1111-1111-111111111111",
        "22222222-2222-2222-2222-222222222222",
        "33333333-3333-3333-3333-333333333333",
    )
    deployed = {
        "tenantId": tenant,
        "clientId": client,
        "identifierUri": f"api://{tenant}/mcp-abc",
        "identityClientId": identity,
        "tableEndpoint": "https://stabc.table.core.windows.net/",
        "oauthTableName": "mcpoauth",
    }
    environ = {"WEBSITE_INSTANCE_ID": "instance", "WEBSITE_HOSTNAME": "func-abc.azurewebsites.net"}
    for name, value in function_app_settings().items():
        if name in {spec.name for spec in SPECS}:
            environ[name] = deployed[value] if isinstance(value, BicepElement) else value
    settings = load_settings(environ)
    assert settings.problems == ()
    assert settings.mode == "on" and settings.production
    assert settings.identifier_uri == f"api://{tenant}/mcp-abc"
    assert settings.qualified_scopes == (f"api://{tenant}/mcp-abc/user_impersonation",)
    assert settings.required_roles == ("MCP.Invoke",)
    assert settings.managed_identity_client_id == identity
    assert settings.oauth_proxy and settings.proxy_table_endpoint == "https://stabc.table.core.windows.net"


# ---------------------------------------------------------------------------------------------------------------
# What the deployment promises
# ---------------------------------------------------------------------------------------------------------------


def test_function_app_runs_on_flex_consumption_linux_python() -> None:
    plan = only("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux
    site = only("Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    assert config["scaleAndConcurrency"] == {
        "instanceMemoryMB": "instanceMemoryMB",
        "maximumInstanceCount": "maximumInstanceCount",
    }
    main = parsed("main.bicep")["parameters"]
    assert bicep_default(main["pythonVersion"]) == "3.13"
    assert schema.allowed_values(main["pythonVersion"]) == ["3.10", "3.11", "3.12", "3.13"]
    assert schema.allowed_values(main["instanceMemoryMB"]) == [512, 2048, 4096]
    module = parsed("modules/function-app.bicep")["parameters"]
    assert schema.allowed_values(module["pythonVersion"]) == schema.allowed_values(main["pythonVersion"])
    assert schema.allowed_values(module["instanceMemoryMB"]) == schema.allowed_values(main["instanceMemoryMB"])


def test_site_is_hardened() -> None:
    site = only("Microsoft.Web/sites")
    assert site["properties"]["httpsOnly"] is True
    site_config = site["properties"]["siteConfig"]
    assert site_config["minTlsVersion"] == "1.2"
    assert site_config["ftpsState"] == "Disabled"
    assert site_config["healthCheckPath"] == "/health"
    policies = resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert sorted(body["name"] for _, body in policies) == ["ftp", "scm"]
    assert all(body["properties"] == {"allow": False} for _, body in policies)


def test_identity_is_user_assigned_and_reaches_the_deployment_package() -> None:
    only("Microsoft.ManagedIdentity/userAssignedIdentities")
    site = only("Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    assert list(site["identity"]["userAssignedIdentities"]) == ["'${identityId}'"]
    storage = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}


def test_storage_accepts_only_entra_identities_over_tls12() -> None:
    account = only("Microsoft.Storage/storageAccounts")["properties"]
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["supportsHttpsTrafficOnly"] is True
    assert only("Microsoft.Storage/storageAccounts/blobServices/containers")["properties"]["publicAccess"] == "None"


def test_monitoring_has_local_auth_off() -> None:
    assert only("Microsoft.Insights/components")["properties"]["DisableLocalAuth"] is True
    assert only("Microsoft.OperationalInsights/workspaces")["properties"]["features"]["disableLocalAuth"] is True


def test_role_assignments_are_idempotent_and_cover_storage_and_monitoring() -> None:
    assignments = resources_of_type("Microsoft.Authorization/roleAssignments")
    roles = parsed("modules/role-assignments.bicep")["variables"]
    granted = set()
    for _, body in assignments:
        assert call_name(body["name"]) == "guid", "role assignment names must come from guid() to be idempotent"
        role_variable = body["properties"]["roleDefinitionId"]["function"]["parameters"]
        granted.add(roles[str(role_variable["resource_name_1"])]["value"])
        assert body["properties"]["principalType"] == "ServicePrincipal"
    assert granted == {STORAGE_BLOB_DATA_OWNER, MONITORING_METRICS_PUBLISHER, STORAGE_TABLE_DATA_CONTRIBUTOR}
    assert accessor_chain(module_param("roles", "principalId")) == ["identity", "outputs", "principalId"]


def test_entra_app_registration() -> None:
    app = only("Microsoft.Graph/applications")
    assert app["uniqueName"] == "appUniqueName"
    assert app["identifierUris"] == ["identifierUri"]
    main_vars = parsed("main.bicep")["variables"]
    # Entra's app ID URI policy rejects api://<arbitrary-string>; api://<tenantId>/<string> is accepted.
    assert main_vars["identifierUri"]["value"] == "api://${tenant().tenantId}/${appUniqueName}"
    assert str(module_param("entra", "identifierUri")) == "identifierUri"
    api = app["api"]
    assert api["requestedAccessTokenVersion"] == 2
    scope, profile = api["oauth2PermissionScopes"]
    assert (scope["value"], scope["type"], scope["isEnabled"]) == ("scopeValue", "User", True)
    assert (profile["value"], profile["type"], profile["isEnabled"]) == ("profileScopeValue", "User", True)
    (role,) = app["appRoles"]
    assert (role["value"], role["allowedMemberTypes"], role["isEnabled"]) == ("appRoleValue", ["Application"], True)
    entra_vars = parsed("modules/entra.bicep")["variables"]
    for name in ("scopeId", "profileScopeId", "appRoleId"):
        assert call_name(entra_vars[name]["value"]) == "guid"
    assert (scope["id"], profile["id"], role["id"]) == ("scopeId", "profileScopeId", "appRoleId")
    pre_authorized = api["preAuthorizedApplications"]
    assert pre_authorized["loop_type"]["detail"]["array_name"] == "preAuthorizedClientIds"
    # VS Code (and any pre-authorized client) can step up to Profile.Read without a consent prompt.
    assert pre_authorized["config"]["delegatedPermissionIds"] == ["scopeId", "profileScopeId"]
    assert bicep_default(parsed("main.bicep")["parameters"]["preAuthorizedClientIds"]) == VS_CODE_CLIENT_ID
    (graph,) = app["requiredResourceAccess"]
    assert entra_vars[str(graph["resourceAppId"])]["value"] == GRAPH_APP_ID
    (user_read,) = graph["resourceAccess"]
    assert entra_vars[str(user_read["id"])]["value"] == GRAPH_USER_READ_SCOPE_ID
    assert user_read["type"] == "Scope"


def test_the_oauth_proxy_has_its_table_role_settings_and_callback() -> None:
    settings = function_app_settings()
    assert settings["OAUTH_PROXY"] == "true"
    (table,) = resources_of_type("Microsoft.Storage/storageAccounts/tableServices/tables")
    storage = parsed("modules/storage.bicep")
    assert str(table[1]["name"]) == "oauthTableName" and storage["variables"]["oauthTableName"]["value"] == "mcpoauth"
    assert accessor_chain(storage["outputs"]["tableEndpoint"]["value"]) == [
        "storageAccount",
        "properties",
        "primaryEndpoints",
        "table",
    ]
    # Entra lists the proxy's callback on the site's host name, computed before the site exists (no cycle).
    assert only("Microsoft.Graph/applications")["web"] == {"redirectUris": "redirectUris"}
    main_vars = parsed("main.bicep")["variables"]
    assert main_vars["functionAppHostName"]["value"] == "${functionAppName}.azurewebsites.net"
    assert module_param("entra", "redirectUris") == ["https://${functionAppHostName}/callback"]
    site = only("Microsoft.Web/sites")
    assert "autoGeneratedDomainNameLabelScope" not in site.get("properties", {}), "the host name would not be known"
    assert str(module_param("functionApp", "functionAppName")) == "functionAppName"


def test_service_principal_and_managed_identity_credential() -> None:
    assert accessor_chain(only("Microsoft.Graph/servicePrincipals")["appId"]) == ["app", "appId"]
    credential = only("Microsoft.Graph/applications/federatedIdentityCredentials")
    assert credential["audiences"] == ["api://AzureADTokenExchange"]
    assert credential["issuer"] == "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0"
    assert credential["subject"] == "managedIdentityPrincipalId"
    assert accessor_chain(module_param("entra", "managedIdentityPrincipalId")) == ["identity", "outputs", "principalId"]


def test_outputs_give_a_client_everything_it_needs() -> None:
    outputs = {name: output["value"] for name, output in parsed("main.bicep")["outputs"].items()}
    host = "${functionApp.outputs.defaultHostName}"
    assert outputs["SERVICE_API_BASE_URL"] == f"https://{host}"
    assert outputs["MCP_URL"] == f"https://{host}/mcp"
    assert outputs["MCP_PROTECTED_RESOURCE_METADATA_URL"] == f"https://{host}/.well-known/oauth-protected-resource/mcp"
    assert accessor_chain(outputs["ENTRA_APPLICATION_ID"]) == ["entra", "outputs", "appId"]
    assert accessor_chain(outputs["ENTRA_IDENTIFIER_URI"]) == ["entra", "outputs", "identifierUri"]
    assert outputs["MCP_SCOPE"] == "${entra.outputs.identifierUri}/${entra.outputs.scopeValue}"
    assert accessor_chain(outputs["ENTRA_SERVICE_PRINCIPAL_ID"]) == ["entra", "outputs", "servicePrincipalId"]
    assert accessor_chain(outputs["MCP_APP_ROLE_ID"]) == ["entra", "outputs", "appRoleId"]


# ---------------------------------------------------------------------------------------------------------------
# azd: azure.yaml and main.parameters.json
# ---------------------------------------------------------------------------------------------------------------


def test_azure_yaml_deploys_the_python_function_app() -> None:
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert project["infra"]["path"] == "infra" and project["infra"].get("module", "main") == "main"
    ((name, service),) = project["services"].items()
    assert (service["host"], service["language"], service["project"]) == ("function", "python", ".")
    # azd finds the site to deploy to by this tag.
    tags = only("Microsoft.Web/sites")["tags"]["function"]["parameters"]["arg_2"]
    assert tags == {"'azd-service-name'": name}


def test_parameters_file_matches_main_bicep() -> None:
    declared = parsed("main.bicep")["parameters"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(mapped) <= set(declared), f"not parameters of main.bicep: {sorted(set(mapped) - set(declared))}"
    assert {name for name, param in declared.items() if bicep_default(param) is None} <= set(mapped)
    for name, entry in mapped.items():
        match = re.fullmatch(r"\$\{(\w+)(?:=([^}]*))?\}", entry["value"])
        assert match, f"{name}: expected an azd ${{VARIABLE}} reference, got {entry['value']!r}"
        if match[2] is not None:
            # The default azd applies when the variable is unset is the one main.bicep declares.
            assert match[2] == str(bicep_default(declared[name])), name
    assert mapped["preAuthorizedClientIds"]["value"].endswith(f"={VS_CODE_CLIENT_ID}}}")


# ---------------------------------------------------------------------------------------------------------------
# Checkov
# ---------------------------------------------------------------------------------------------------------------


def checkov_executable() -> str | None:
    beside = Path(sys.executable).with_name("checkov")
    return str(beside) if beside.is_file() else shutil.which("checkov")


def test_checkov_passes_with_reasoned_skips(tmp_path: Path) -> None:
    executable = checkov_executable()
    if executable is None:
        pytest.skip("checkov is not installed (pip install -r requirements-infra.txt)")
    # Checkov parses with pycep-parser 0.5.1, which does not know `extension`: scan a copy without that statement,
    # or entra.bicep would be reported as a parsing error and silently left unscanned.
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    for path in copy.rglob("*.bicep"):
        path.write_text(schema.EXTENSION_STATEMENT.sub("", path.read_text()))
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    command = [executable, "--framework", "bicep", "-d", str(copy), "--skip-download", "-o", "json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    summary, results = report["summary"], report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert failed == [], failed
    assert summary["parsing_errors"] == 0, results.get("parsing_errors")
    assert summary["passed"] > 0
    assert run.returncode == 0, run.stderr[-2000:]
    # Every skip is a `// checkov:skip=ID:reason` comment inside the resource it concerns, with a written reason.
    written = set()
    for path in schema.bicep_files():
        for check_id, reason in re.findall(r"//\s*checkov:skip=([A-Z0-9_]+):?(.*)", path.read_text()):
            assert len(reason.strip()) > 20, f"{path.name}: {check_id} needs a reason"
            written.add(check_id)
    reported = {c["check_id"]: c["check_result"]["suppress_comment"] for c in results["skipped_checks"]}
    assert set(reported) == written, "a skip comment outside its resource is ignored by checkov"
    assert all(reason and reason != "No comment provided" for reason in reported.values())
