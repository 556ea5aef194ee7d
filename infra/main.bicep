// The whole deployment: `azd up` provisions this file, then deploys the app to the Function App it creates.
// One module per concern; every resource is declared directly (no registry modules), so the templates
// can be checked offline against the Azure and Microsoft Graph type definitions (tests/test_infra.py).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the names of every resource.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

// 3.13 by default: Azure runs Python 3.13+ apps on azure-functions-runtime, the worker library
// requirements.txt pins and devhost serves the app through, so local runs and Azure share worker code.
// Flex Consumption's Python versions: `az functionapp list-flexconsumption-runtimes --location <region>
// --runtime python` (Microsoft Learn, "Azure Functions Flex Consumption plan hosting", supported language
// stack versions; Microsoft's Azure-Samples/remote-mcp-functions-python deploys 3.13 on FC1). 3.10-3.12 stay allowed.
@description('Python version of the Functions runtime.')
@allowed([
  '3.10'
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Most traces a second Application Insights receives (Azure Monitor\'s rate-limited sampling, the distro\'s own default; metrics and log records are never sampled). To keep every trace, set the app setting OTEL_TRACES_SAMPLER to microsoft.fixed_percentage and OTEL_TRACES_SAMPLER_ARG to 1.0.')
@minValue(0)
param tracesPerSecond int = 5

@description('Comma-separated client IDs pre-authorized for the user_impersonation scope (no consent prompt). The default is Visual Studio Code.')
param preAuthorizedClientIds string = 'aebc6443-996d-45c2-90f0-388ff96faa56'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
// The site's default host name, known before the site exists: the Entra app must list the OAuth proxy's
// callback, and the site needs the app's client id, so the name is computed here rather than read back
// from the site (no unique-hostname scope is set on the site, so this is the name Azure gives it).
var functionAppHostName = '${functionAppName}.azurewebsites.net'
// Entra's app ID URI policy accepts api://<tenantId>/<string>, unlike a bare api://<string>.
var appUniqueName = 'mcp-${resourceToken}'
var identifierUri = 'api://${tenant().tenantId}/${appUniqueName}'

resource rg 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    storageAccountName: 'st${resourceToken}'
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    identityName: 'id-${resourceToken}'
  }
}

module roles 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.storageAccountName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module entra 'modules/entra.bicep' = {
  name: 'entra'
  scope: rg
  params: {
    appUniqueName: appUniqueName
    displayName: 'MCP server (${environmentName})'
    identifierUri: identifierUri
    preAuthorizedClientIds: filter(split(preAuthorizedClientIds, ','), clientId => !empty(trim(clientId)))
    managedIdentityPrincipalId: identity.outputs.principalId
    redirectUris: [
      'https://${functionAppHostName}/callback'
    ]
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: 'plan-${resourceToken}'
    functionAppName: functionAppName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    tracesPerSecond: tracesPerSecond
    identityId: identity.outputs.identityId
    identityClientId: identity.outputs.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    tenantId: tenant().tenantId
    clientId: entra.outputs.appId
    identifierUri: entra.outputs.identifierUri
    tableEndpoint: storage.outputs.tableEndpoint
    oauthTableName: storage.outputs.oauthTableName
  }
  // The identity must hold its storage and monitoring roles before the host first starts.
  dependsOn: [
    roles
  ]
}

// azd stores these in .azure/<env>/.env; a client needs nothing else to connect.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.functionAppName
output SERVICE_API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}'
output MCP_URL string = 'https://${functionApp.outputs.defaultHostName}/mcp'
output MCP_PROTECTED_RESOURCE_METADATA_URL string = 'https://${functionApp.outputs.defaultHostName}/.well-known/oauth-protected-resource/mcp'
// The OAuth proxy: the authorization server MCP clients discover (RFC 8414), and the callback Entra knows.
output OAUTH_AUTHORIZATION_SERVER string = 'https://${functionApp.outputs.defaultHostName}'
output OAUTH_CALLBACK_URL string = 'https://${functionAppHostName}/callback'
output ENTRA_APPLICATION_ID string = entra.outputs.appId
output ENTRA_IDENTIFIER_URI string = entra.outputs.identifierUri
output MCP_SCOPE string = '${entra.outputs.identifierUri}/${entra.outputs.scopeValue}'
// For granting a client application the MCP.Invoke app role (docs/deploy.md).
output ENTRA_SERVICE_PRINCIPAL_ID string = entra.outputs.servicePrincipalId
output MCP_APP_ROLE_ID string = entra.outputs.appRoleId
