// The API's Entra app registration, its service principal, and a federated identity credential that
// lets the Function App's managed identity act as the app's credential. No secret is ever created.
extension microsoftGraphV1

@description('Alternate key of the app registration; redeploys update the same app.')
param appUniqueName string
param displayName string
@description('Application ID URI; Entra accepts api://<tenantId>/<string>.')
param identifierUri string
@description('Client IDs pre-authorized for the user_impersonation and Profile.Read scopes.')
param preAuthorizedClientIds array
@description('Object (principal) ID of the managed identity trusted as the app credential.')
param managedIdentityPrincipalId string
@description('Web redirect URIs: the OAuth proxy\'s callback, https://<host>/callback.')
param redirectUris array

// The app checks these names: REQUIRED_SCOPES and REQUIRED_ROLES in function-app.bicep, and
// Profile.Read where shared/mcp/tools.py declares it (`@requires`), for the graph_profile tool.
var scopeValue = 'user_impersonation'
var profileScopeValue = 'Profile.Read'
var appRoleValue = 'MCP.Invoke'
// Fixed per app: an enabled scope or role cannot change its id.
var scopeId = guid(appUniqueName, 'scope', scopeValue)
var profileScopeId = guid(appUniqueName, 'scope', profileScopeValue)
var appRoleId = guid(appUniqueName, 'appRole', appRoleValue)

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
var graphUserReadScopeId = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d'

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: appUniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  identifierUris: [
    identifierUri
  ]
  // The OAuth proxy redeems Entra's codes here as a confidential client (the federated credential below).
  web: {
    redirectUris: redirectUris
  }
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: scopeId
        value: scopeValue
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Use the MCP server'
        adminConsentDescription: 'Lets the app call the MCP server tools on behalf of the signed-in user.'
        userConsentDisplayName: 'Use the MCP server'
        userConsentDescription: 'Lets the app call the MCP server tools on your behalf.'
      }
      {
        id: profileScopeId
        value: profileScopeValue
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Read your Microsoft Graph profile through the MCP server'
        adminConsentDescription: 'Lets the app call the graph_profile tool, which reads the signed-in user\'s Microsoft Graph profile on their behalf.'
        userConsentDisplayName: 'Read your profile through the MCP server'
        userConsentDescription: 'Lets the app call the graph_profile tool, which reads your Microsoft Graph profile on your behalf.'
      }
    ]
    preAuthorizedApplications: [for clientId in preAuthorizedClientIds: {
      appId: trim(clientId)
      delegatedPermissionIds: [
        scopeId
        profileScopeId
      ]
    }]
  }
  appRoles: [
    {
      id: appRoleId
      value: appRoleValue
      allowedMemberTypes: [
        'Application'
      ]
      displayName: 'Invoke MCP tools'
      description: 'Applications holding this role may call the MCP server without a signed-in user.'
      isEnabled: true
    }
  ]
  // User.Read on Microsoft Graph, for the on-behalf-of call behind the `graph_profile` tool and `GET /me?graph=true`.
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: [
        {
          id: graphUserReadScopeId
          type: 'Scope'
        }
      ]
    }
  ]
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

resource managedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {
  name: '${app.uniqueName}/function-app-identity'
  description: 'The Function App managed identity, the app credential for on-behalf-of calls and the OAuth proxy.'
  audiences: [
    'api://AzureADTokenExchange'
  ]
  issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
  subject: managedIdentityPrincipalId
}

output appId string = app.appId
output identifierUri string = identifierUri
output scopeValue string = scopeValue
output profileScopeValue string = profileScopeValue
output appRoleValue string = appRoleValue
output appRoleId string = appRoleId
output servicePrincipalId string = servicePrincipal.id
