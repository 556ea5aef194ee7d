// The MCP TypeScript SDK's client (npm @modelcontextprotocol/sdk) signing in through the OAuth proxy with DCR.
// Run by tests/test_facade_typescript.py with Node 22 from .tools (copied beside .tools/node_modules so the
// SDK resolves). Protocol on stdout/stdin, one JSON object a line: it prints {"authorize": URL}, the test
// signs in as a person would and writes {"code": ...}; it then calls tools, forces a refresh, and prints
// {"done": ...}.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [mcpUrl, redirectUrl] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");

class MemoryProvider {
  constructor() {
    this.client = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.refreshes = 0;
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: "TypeScript SDK test client",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens) {
    if (this.saved) this.refreshes += 1;
    this.saved = tokens;
  }
  redirectToAuthorization(url) {
    say({ authorize: url.toString() });
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

const provider = new MemoryProvider();
const transport = () => new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
let client = new Client({ name: "ts-facade-test", version: "1.0.0" });
let first = transport();
try {
  await client.connect(first);
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  const { value } = await lines.next();
  await first.finishAuth(JSON.parse(value).code);
  client = new Client({ name: "ts-facade-test", version: "1.0.0" });
  await client.connect(transport());
}
const added = await client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
const firstAccess = provider.saved.access_token;

// The access token is refused (as an expired one would be): the SDK refreshes through the proxy and retries.
provider.saved = { ...provider.saved, access_token: "expired" };
client = new Client({ name: "ts-facade-test", version: "1.0.0" });
await client.connect(transport());
const multiplied = await client.callTool({ name: "multiply", arguments: { a: 6, b: 7 } });
say({
  done: {
    client_id: provider.client.client_id,
    added: added.structuredContent,
    multiplied: multiplied.structuredContent,
    refreshed: provider.refreshes >= 1 && provider.saved.access_token !== firstAccess,
  },
});
process.exit(0);
