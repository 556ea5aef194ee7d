// Host storage, the deployment package container and the OAuth proxy's table, reached only through Entra identities:
// shared-key access off, TLS 1.2, HTTPS only, no anonymous blob access.
param location string
param tags object
param storageAccountName string

var deploymentContainerName = 'app-package'
// The OAuth proxy's state (OAUTH_PROXY_TABLE): registrations, transactions, codes, consents; rows expire.
var oauthTableName = 'mcpoauth'

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  // checkov:skip=CKV_AZURE_35:A Flex Consumption app without VNet integration reaches storage over public endpoints; access needs an Entra identity with a data role, since shared keys are off.
  // checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public network access stays on; private endpoints need the VNet variant, which this reference leaves out.
  // checkov:skip=CKV_AZURE_206:LRS is enough: the account holds host leases and the deployment package, which azd republishes.
  // checkov:skip=CKV_AZURE_43:The name is a parameter; main.bicep builds it as 'st' plus uniqueString(), 15 lowercase letters and digits.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
  properties: {}
}

resource oauthTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = {
  parent: tableService
  name: oauthTableName
  properties: {}
}

output storageAccountName string = storageAccount.name
output blobEndpoint string = storageAccount.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output tableEndpoint string = storageAccount.properties.primaryEndpoints.table
output oauthTableName string = oauthTable.name
