// The Flex Consumption (FC1) plan and the Linux Python Function App, hardened, with the app settings
// the app reads (shared/settings.py SPECS) and the host's identity-based storage and telemetry settings.
param location string
param tags object
param planName string
param functionAppName string
@allowed([
  '3.10'
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int
@description('Most traces a second the worker\'s Azure Monitor distro exports.')
@minValue(0)
param tracesPerSecond int
@description('Resource ID of the user-assigned managed identity.')
param identityId string
@description('Client ID of the user-assigned managed identity.')
param identityClientId string
param blobEndpoint string
param deploymentContainerName string
param applicationInsightsConnectionString string
param tenantId string
@description('Application (client) ID of the API app registration.')
param clientId string
@description('Application ID URI of the API app registration.')
param identifierUri string
@description('Table service endpoint of the OAuth proxy\'s state.')
param tableEndpoint string
param oauthTableName string

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption exists in some regions only; the reference deploys to any Flex region.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  // checkov:skip=CKV_AZURE_222:The MCP endpoint is public by design; every protected route requires an Entra access token.
  // checkov:skip=CKV_AZURE_17:Clients authenticate with Entra bearer tokens; client certificates would lock out MCP clients such as VS Code.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; always-ready instances would cost money at idle.
  name: functionAppName
  location: location
  // azd deploys the `api` service of azure.yaml to the site carrying this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      healthCheckPath: '/health'
      appSettings: [
        // Read by the Functions host (platform), not by the app.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: blobEndpoint
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // The worker configures Azure Monitor's OpenTelemetry distro itself (host.json telemetryMode), reaching
        // Application Insights with the managed identity above; the app only records through opentelemetry-api.
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY'
          value: 'true'
        }
        // Its sampling, as its own default since 1.8.6 (at most 5 traces a second), set here so that the deployment
        // does not depend on the distro's version; devhost reads the same two (devhost/sampling.py).
        {
          name: 'OTEL_TRACES_SAMPLER'
          value: 'microsoft.rate_limited'
        }
        {
          name: 'OTEL_TRACES_SAMPLER_ARG'
          value: string(tracesPerSecond)
        }
        // Read by the app (shared/settings.py).
        {
          name: 'AZURE_TENANT_ID'
          value: tenantId
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: clientId
        }
        {
          name: 'TOKEN_AUDIENCE'
          value: identifierUri
        }
        {
          name: 'REQUIRED_SCOPES'
          value: 'user_impersonation'
        }
        {
          name: 'REQUIRED_ROLES'
          value: 'MCP.Invoke'
        }
        {
          name: 'ENABLE_AUTH'
          value: 'true'
        }
        {
          name: 'ENVIRONMENT'
          value: 'production'
        }
        {
          name: 'MANAGED_IDENTITY_CLIENT_ID'
          value: identityClientId
        }
        // The OAuth proxy: any MCP client signs in through the app (shared/facade), its state in Table Storage.
        {
          name: 'OAUTH_PROXY'
          value: 'true'
        }
        {
          name: 'OAUTH_PROXY_TABLE_ENDPOINT'
          value: tableEndpoint
        }
        {
          name: 'OAUTH_PROXY_TABLE'
          value: oauthTableName
        }
      ]
    }
  }
}

// Deployments authenticate with Entra (azd uses the signed-in account); no publishing passwords.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output functionAppName string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
