import CertVaultTesting
import Foundation
import Testing

@Suite("certvault token create, list and revoke", .serialized)
struct TokenCommandTests {
    func env(_ dir: TemporaryDirectory) -> [String: String] {
        [
            "CERTVAULT_VAULT": dir.file("vault"), "CERTVAULT_KEY_FILE": dir.file("vault-key/root.key"),
            "CERTVAULT_ACCESS_POLICIES": "\(TestEnvironment.packageRoot)/policy/access",
        ]
    }

    func initialized() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        let result = try CLI.run(["init"], environment: env(dir))
        try #require(result.status == 0, "\(result.stderr)")
        return dir
    }

    @Test("create prints the token once, on stdout only; list shows it without the token; revoke marks it revoked")
    func roundTrip() throws {
        let dir = try initialized()
        let env = env(dir)
        let created = try CLI.run(
            [
                "token", "create", "--name", "restore", "--scope", "tenants:read,credentials:read",
                "--tenant", "contoso", "--tenant", "eu-*", "--expires", "90d",
            ], environment: env)
        try #require(created.status == 0, "\(created.stderr)")
        let token = created.stdout.trimmingCharacters(in: .newlines)
        #expect(created.stdout == token + "\n", "stdout holds the token and nothing else")
        #expect(token.count == 64 && token.hasPrefix("cvt_"))
        let accessor = String(token.dropFirst(4).prefix(16))
        let secretPart = String(token.dropFirst(21))
        #expect(created.stderr.contains(accessor))
        #expect(!created.stderr.contains(secretPart))
        #expect(try TemporaryDirectory.mode(dir.file("vault/tokens")) == 0o600)
        #expect(!(try String(contentsOfFile: dir.file("vault/tokens"), encoding: .utf8)).contains(secretPart))

        let json = try CLI.run(["token", "create", "--name", "audit", "--scope", "audit:read", "--json"], environment: env)
        try #require(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        let second = try #require(object["token"] as? String)
        #expect(second.hasPrefix("cvt_\(object["accessor"] as? String ?? "-")_"))
        #expect(object["scopes"] as? [String] == ["audit:read"])
        #expect(object["tenants"] as? [String] == ["*"])
        #expect(object["expires"] == nil)
        #expect(json.stderr.contains("covers every tenant"))

        let table = try CLI.run(["token", "list"], environment: env)
        try #require(table.status == 0, "\(table.stderr)")
        for expected in ["ACCESSOR", accessor, "restore", "credentials:read,tenants:read", "contoso,eu-*", "active", "audit", "never"] {
            #expect(table.stdout.contains(expected), "\(expected)")
        }
        let listed = try CLI.run(["token", "list", "--json"], environment: env)
        let tokens = try #require(try JSONSerialization.jsonObject(with: listed.stdoutData) as? [[String: Any]])
        #expect(tokens.count == 2)
        #expect(tokens.allSatisfy { $0["token"] == nil && $0["hash"] == nil })
        #expect(tokens.first?["accessor"] as? String == accessor)
        #expect(tokens.first?["expires"] is String)
        for output in [table, listed] {
            #expect(!output.combined.contains(secretPart) && !output.combined.contains(String(second.dropFirst(21))))
        }

        let revoked = try CLI.run(["token", "revoke", accessor], environment: env)
        try #require(revoked.status == 0, "\(revoked.stderr)")
        #expect(revoked.stdout.contains("Revoked token 'restore'"))
        let again = try CLI.run(["token", "revoke", accessor], environment: env)
        #expect(again.status == 0)
        #expect(again.stdout.contains("already revoked"))
        let after = try CLI.run(["token", "list", "--json"], environment: env)
        let first = try #require((try JSONSerialization.jsonObject(with: after.stdoutData) as? [[String: Any]])?.first)
        #expect(first["state"] as? String == "revoked")
        #expect(first["revoked"] is String)

        // Creating and revoking tokens is in the vault's audit log, without the tokens.
        let audit = try CLI.run(["audit", "show", "--json"], environment: env)
        try #require(audit.status == 0, "\(audit.stderr)")
        let records = try #require(try JSONSerialization.jsonObject(with: audit.stdoutData) as? [[String: Any]])
        let actions = records.compactMap { $0["action"] as? String }
        #expect(actions.filter { $0 == "token.create" }.count == 2)
        #expect(actions.filter { $0 == "token.revoke" }.count == 1, "the second revoke changed nothing and is not recorded")
        #expect(records.contains { ($0["action"] as? String) == "token.revoke" && ($0["detail"] as? String)?.contains(accessor) == true })
        #expect(!audit.stdout.contains(secretPart) && !audit.stdout.contains(String(second.dropFirst(21))))
    }

    @Test("A token bound to an access policy lists the policy")
    func policyBound() throws {
        let dir = try initialized()
        let created = try CLI.run(
            ["token", "create", "--name", "restore", "--policy", "restore-tooling", "--expires", "12h"],
            environment: env(dir))
        try #require(created.status == 0, "\(created.stderr)")
        let list = try CLI.run(["token", "list"], environment: env(dir))
        #expect(list.stdout.contains("policy:restore-tooling"))
        let json = try CLI.run(["token", "list", "--json"], environment: env(dir))
        let first = try #require((try JSONSerialization.jsonObject(with: json.stdoutData) as? [[String: Any]])?.first)
        #expect(first["policy"] as? String == "restore-tooling")
        #expect(first["scopes"] as? [String] == [])
    }

    @Test(
        "Refusals: unknown scope (the scopes are listed), unknown policy, policy with scopes, bad lifetime, unknown accessor, a token as accessor"
    )
    func refusals() throws {
        let dir = try initialized()
        let env = env(dir)
        let scope = try CLI.run(["token", "create", "--name", "x", "--scope", "tenants:write"], environment: env)
        #expect(scope.status == 1)
        #expect(scope.stderr.contains("Unknown scope"))
        #expect(scope.stderr.contains("tenants:read, certificates:issue"))
        let policy = try CLI.run(["token", "create", "--name", "x", "--policy", "nope"], environment: env)
        #expect(policy.status == 1)
        #expect(policy.stderr.contains("restore-tooling"), "the hint lists the known policies: \(policy.stderr)")
        let both = try CLI.run(
            ["token", "create", "--name", "x", "--policy", "restore-tooling", "--scope", "audit:read"], environment: env)
        #expect(both.status == 64)
        let neither = try CLI.run(["token", "create", "--name", "x"], environment: env)
        #expect(neither.status == 64)
        let lifetime = try CLI.run(["token", "create", "--name", "x", "--scope", "audit:read", "--expires", "5y"], environment: env)
        #expect(lifetime.status == 1)
        #expect(lifetime.stderr.contains("90d"))
        let tenant = try CLI.run(["token", "create", "--name", "x", "--scope", "audit:read", "--tenant", "../../etc"], environment: env)
        #expect(tenant.status == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.file("vault/tokens")), "nothing was written")

        let made = try CLI.run(["token", "create", "--name", "x", "--scope", "audit:read"], environment: env)
        let token = made.stdout.trimmingCharacters(in: .newlines)
        let unknown = try CLI.run(["token", "revoke", "0123456789abcdef"], environment: env)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("token list"))
        let pasted = try CLI.run(["token", "revoke", token], environment: env)
        #expect(pasted.status == 1)
        #expect(pasted.stderr.contains("not an accessor"))
        #expect(!pasted.combined.contains(String(token.dropFirst(21))))
    }

    @Test("An edited store is refused with a clear error and nothing is listed")
    func tampered() throws {
        let dir = try initialized()
        let env = env(dir)
        let made = try CLI.run(["token", "create", "--name", "reader", "--scope", "tenants:read", "--tenant", "contoso"], environment: env)
        try #require(made.status == 0, "\(made.stderr)")
        let path = dir.file("vault/tokens")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "tenants:read", with: "tokens:admin").write(toFile: path, atomically: false, encoding: .utf8)
        let list = try CLI.run(["token", "list"], environment: env)
        #expect(list.status == 1)
        #expect(list.stdout.isEmpty)
        #expect(list.stderr.contains("failed authentication"))
        #expect(list.stderr.contains("hint:"))
        let create = try CLI.run(["token", "create", "--name", "more", "--scope", "audit:read"], environment: env)
        #expect(create.status == 1, "no token is added to an altered store")
    }

    @Test("A wrong key file opens nothing")
    func wrongKey() throws {
        let dir = try initialized()
        _ = try CLI.run(["token", "create", "--name", "reader", "--scope", "tenants:read"], environment: env(dir))
        let other = try TemporaryDirectory()
        _ = try CLI.run(["init"], environment: env(other))
        var mixed = env(dir)
        mixed["CERTVAULT_KEY_FILE"] = other.file("vault-key/root.key")
        let list = try CLI.run(["token", "list"], environment: mixed)
        #expect(list.status == 1)
        #expect(list.stdout.isEmpty)
    }
}
