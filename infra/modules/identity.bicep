// The Function App's user-assigned managed identity. It reaches host storage, the deployment package
// and Application Insights, and it is the federated credential of the Entra app (no client secret).
param location string
param tags object
param identityName string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: identityName
  location: location
  tags: tags
}

output identityId string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
