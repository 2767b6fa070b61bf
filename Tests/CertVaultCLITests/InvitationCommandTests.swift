import CertVaultHTTP
import CertVaultTesting
import Foundation
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("certvault invite, invitation list and invitation revoke", .serialized)
struct InvitationCommandTests {
    func env(_ dir: TemporaryDirectory) -> [String: String] {
        [
            "CERTVAULT_VAULT": dir.file("vault"), "CERTVAULT_KEY_FILE": dir.file("vault-key/root.key"),
            "CERTVAULT_ONBOARDING": dir.file("onboarding"),
        ]
    }

    func initialized() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        let result = try CLI.run(["init"], environment: env(dir))
        try #require(result.status == 0, "\(result.stderr)")
        return dir
    }

    @Test("invite prints the link once, on stdout only, with the expiry on stderr; list shows it without the link; revoke kills it")
    func roundTrip() throws {
        let dir = try initialized()
        let env = env(dir)
        let config = try dir.write("certvault.toml", "[portal]\npublic_url = \"https://portal.provider.example/\"\n")
        let invited = try CLI.run(
            ["invite", "contoso", "--display-name", "Contoso Ltd", "--expires", "48h", "--config", config], environment: env)
        try #require(invited.status == 0, "\(invited.stderr)")
        let link = invited.stdout.trimmingCharacters(in: .newlines)
        #expect(invited.stdout == link + "\n", "stdout holds the link and nothing else")
        #expect(link.hasPrefix("https://portal.provider.example/onboard/cvi_"))
        let token = String(try #require(link.split(separator: "/").last))
        #expect(token.count == 64)
        let id = String(token.dropFirst(4).prefix(16))
        let secretPart = String(token.dropFirst(21))
        #expect(invited.stderr.contains(id))
        #expect(invited.stderr.contains("expires "))
        #expect(invited.stderr.contains("only time"))
        #expect(!invited.stderr.contains(secretPart))
        #expect(try TemporaryDirectory.mode(dir.file("vault/invitations")) == 0o600)
        #expect(!(try String(contentsOfFile: dir.file("vault/invitations"), encoding: .utf8)).contains(secretPart))

        let json = try CLI.run(["invite", "fabrikam", "--kind", "onboarding", "--json"], environment: env)
        try #require(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        let url = try #require(object["url"] as? String)
        #expect(url.contains("/onboard/cvi_\(object["id"] as? String ?? "-")_"))
        #expect(object["tenant"] as? String == "fabrikam")
        #expect(object["state"] as? String == "active")
        #expect((object["createdBy"] as? String)?.hasPrefix("cli:") == true)
        let days = try #require(object["expiresAt"] as? String)
        #expect(!days.isEmpty)

        let table = try CLI.run(["invitation", "list"], environment: env)
        try #require(table.status == 0, "\(table.stderr)")
        for expected in ["ID", "TENANT", id, "contoso", "Contoso Ltd", "onboarding", "active", "fabrikam"] {
            #expect(table.stdout.contains(expected), "\(expected)")
        }
        let listed = try CLI.run(["invitation", "list", "--json"], environment: env)
        let rows = try #require(try JSONSerialization.jsonObject(with: listed.stdoutData) as? [[String: Any]])
        #expect(rows.count == 2)
        #expect(rows.allSatisfy { $0["url"] == nil && $0["hash"] == nil })
        for output in [table, listed] { #expect(!output.combined.contains(secretPart) && !output.combined.contains("cvi_")) }

        let revoked = try CLI.run(["invitation", "revoke", id], environment: env)
        try #require(revoked.status == 0, "\(revoked.stderr)")
        #expect(revoked.stdout.contains("Revoked invitation \(id)"))
        let again = try CLI.run(["invitation", "revoke", id], environment: env)
        #expect(again.status == 0)
        #expect(again.stdout.contains("already revoked"))
        let after = try CLI.run(["invitation", "list", "--json"], environment: env)
        let first = try #require((try JSONSerialization.jsonObject(with: after.stdoutData) as? [[String: Any]])?.first)
        #expect(first["state"] as? String == "revoked")

        // Creating and revoking invitations is in the vault's audit log, without the links.
        let audit = try CLI.run(["audit", "show", "--json"], environment: env)
        try #require(audit.status == 0, "\(audit.stderr)")
        let records = try #require(try JSONSerialization.jsonObject(with: audit.stdoutData) as? [[String: Any]])
        let created = records.filter { $0["action"] as? String == "invitation.create" }
        #expect(created.count == 2)
        #expect(created.first?["tenant"] as? String == "contoso")
        #expect((created.first?["detail"] as? String)?.contains(id) == true)
        #expect((created.first?["detail"] as? String)?.contains("cli:") == true)
        #expect(records.filter { $0["action"] as? String == "invitation.revoke" }.count == 1, "the second revoke changed nothing")
        #expect(!audit.stdout.contains(secretPart) && !audit.stdout.contains("cvi_"))
    }

    @Test("A second invitation for the tenant replaces the first: the note says so and the first is revoked")
    func replaces() throws {
        let dir = try initialized()
        let env = env(dir)
        let first = try CLI.run(["invite", "contoso"], environment: env)
        try #require(first.status == 0, "\(first.stderr)")
        let firstID = String(first.stdout.split(separator: "/").last!.dropFirst(4).prefix(16))
        let second = try CLI.run(["invite", "contoso"], environment: env)
        try #require(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("replaces \(firstID)"))
        let listed = try CLI.run(["invitation", "list", "--json"], environment: env)
        let rows = try #require(try JSONSerialization.jsonObject(with: listed.stdoutData) as? [[String: Any]])
        #expect(rows.map { $0["state"] as? String } == ["revoked", "active"])
    }

    @Test("Refusals: a bad tenant, kind or lifetime, a renewal for a tenant not onboarded, an unknown id, a link given as id")
    func refusals() throws {
        let dir = try initialized()
        let env = env(dir)
        let tenant = try CLI.run(["invite", "../../etc"], environment: env)
        #expect(tenant.status == 1)
        #expect(tenant.stderr.contains("Invalid tenant id"))
        let kind = try CLI.run(["invite", "contoso", "--kind", "bulk"], environment: env)
        #expect(kind.status == 64)
        for lifetime in ["none", "91d", "7", "-1d"] {
            let result = try CLI.run(["invite", "contoso", "--expires", lifetime], environment: env)
            #expect(result.status != 0, "\(lifetime)")
            #expect(result.stderr.contains("hint:") || result.stderr.contains("Error:"), "\(lifetime): \(result.stderr)")
        }
        let renewal = try CLI.run(["invite", "contoso", "--kind", "renewal"], environment: env)
        #expect(renewal.status == 1)
        #expect(renewal.stderr.contains("not onboarded"))
        #expect(renewal.stderr.contains("hint:"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("vault/invitations")), "nothing was written")

        let made = try CLI.run(["invite", "contoso"], environment: env)
        let link = made.stdout.trimmingCharacters(in: .newlines)
        let token = String(link.split(separator: "/").last!)
        let unknown = try CLI.run(["invitation", "revoke", "0123456789abcdef"], environment: env)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("invitation list"))
        for pasted in [token, link] {
            let result = try CLI.run(["invitation", "revoke", pasted], environment: env)
            #expect(result.status == 1)
            #expect(result.stderr.contains("not an id"))
            #expect(!result.combined.contains(String(token.dropFirst(21))))
        }
    }

    @Test("An edited invitation store is refused with a clear error and nothing is listed")
    func tampered() throws {
        let dir = try initialized()
        let env = env(dir)
        _ = try CLI.run(["invite", "contoso"], environment: env)
        let path = dir.file("vault/invitations")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"contoso\"", with: "\"fabrikam\"").write(toFile: path, atomically: false, encoding: .utf8)
        let listed = try CLI.run(["invitation", "list"], environment: env)
        #expect(listed.status == 1)
        #expect(listed.stderr.contains("failed authentication"))
        #expect(listed.stderr.contains("hint:"))
        #expect(!listed.stdout.contains("fabrikam"))
    }

    @Test(
        "serve opens the same store: a link made by 'certvault invite' is listed by the running service, and a CLI revocation shows at once"
    )
    func sharedWithServe() throws {
        let world = try ServeWorld(vb365: false)
        let created = try CLI.run(
            ["token", "create", "--name", "portal", "--scope", "onboarding:read,onboarding:write"], environment: world.env)
        try #require(created.status == 0, "\(created.stderr)")
        let token = created.stdout.trimmingCharacters(in: .newlines)
        let serve = try world.serve()
        let ready = try serve.ready()
        let invited = try CLI.run(["invite", "contoso", "--config", world.configFile], environment: world.env)
        try #require(invited.status == 0, "\(invited.stderr)")
        #expect(invited.stdout.hasPrefix("https://127.0.0.1:0/onboard/cvi_"), "without [portal] public_url: the listen address")
        let id = String(invited.stdout.split(separator: "/").last!.dropFirst(4).prefix(16))
        let client = try HTTPClient(
            configuration: .init(
                trust: .pinnedPublicKey(ready.publicKeyPin!, caFile: ready.certificateFile), connectTimeout: 5, totalTimeout: 10),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        func state() throws -> String? {
            let response = try client.send(
                HTTPRequest(method: "GET", url: ready.url + "/v1/invitations", headers: [("Authorization", "Bearer \(token)")]))
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            let rows = object?["invitations"] as? [[String: Any]] ?? []
            return rows.first { $0["id"] as? String == id }?["state"] as? String
        }
        #expect(try state() == "active")
        let revoked = try CLI.run(["invitation", "revoke", id], environment: world.env)
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(try state() == "revoked")
        serve.signal(SIGTERM)
        #expect(serve.exitStatus() == 0)
    }
}
