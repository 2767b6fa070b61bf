import CertVaultIssuer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

/// The simulator in this process, a vault and onboarding folder for the `certvault` binary.
final class OnboardingWorld: @unchecked Sendable {
    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let env: [String: String]
    let connection: [String]

    init(_ version: VB365APIVersion = .v8, _ change: (inout VB365Simulator.Configuration) -> Void = { _ in }) throws {
        var configuration = VB365Simulator.Configuration(version: version, users: ["VB365\\admin": "cli-test-password"])
        change(&configuration)
        simulator = try VB365Simulator(configuration: configuration)
        try simulator.start()
        dir = try TemporaryDirectory()
        let ca = try dir.write("ca.pem", simulator.identity!.certificatePEM)
        let password = try dir.write("vb365-password", "cli-test-password\n")
        env = ["CERTVAULT_VAULT": dir.file("vault"), "CERTVAULT_KEY_FILE": dir.file("key/root.key"),
               "CERTVAULT_ONBOARDING": dir.file("onboarding"), "CERTVAULT_POLICY": CLI.defaultPolicy,
               "CERTVAULT_VB365_URL": simulator.baseURL, "CERTVAULT_VB365_USER": "VB365\\admin"]
        connection = ["--ca-file", ca, "--vb365-password-file", password]
        let initialized = try CLI.run(["init"], environment: env)
        guard initialized.status == 0 else { throw ToolMissing(name: "certvault init: \(initialized.stderr)") }
    }

    deinit { simulator.stop() }

    func run(_ arguments: [String]) throws -> ProcessOutput {
        let needsConnection = ["start", "wait", "resume", "renew-code"].contains(arguments.dropFirst().first ?? "")
        return try CLI.run(arguments + (needsConnection ? connection : []), environment: env)
    }

    /// The record a command about one tenant prints with --json: one object.
    func json(_ output: ProcessOutput) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "one record, not an array: \(output.stdout)")
    }

    /// The records a command about many tenants prints with --json: an array.
    func jsonArray(_ output: ProcessOutput) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]], "an array: \(output.stdout)")
    }

    func posts() -> Int { simulator.received().filter { $0.method == "POST" && $0.path.hasSuffix("/Organizations") }.count }
}

@Suite("certvault onboard and restore-credential, as separate processes")
struct OnboardCommandTests {
    @Test("start exits paused; after the simulated sign-in a new process resumes; status and restore-credential report it")
    func pauseAcrossProcesses() throws {
        let world = try OnboardingWorld(.v6)
        let start = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--display-name", "Contoso", "--json"])
        #expect(start.status == 0, "\(start.stderr)")
        let record = try world.json(start)
        #expect(record["state"] as? String == "awaiting-customer")
        let code = try #require(record["userCode"] as? String)
        #expect(record["generation"] as? Int == 1, "the certificate was issued during start")
        #expect(!start.stdout.lowercased().contains("password"), "no secret (and no password field) in the record")

        let early = try world.run(["onboard", "resume", "contoso"])
        #expect(early.status == 3, "still waiting for the customer")
        #expect(early.stdout.contains("awaiting-customer"))
        world.simulator.signIn(userCode: code)
        let resumed = try world.run(["onboard", "resume", "contoso"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("contoso: onboarded"))

        let status = try world.run(["onboard", "status", "--json"])
        let onboarded = try #require(try world.jsonArray(status).first)
        #expect(onboarded["organizationId"] as? String == world.simulator.storedOrganizations().first?.id)

        let restore = try world.run(["restore-credential", "contoso", "--purpose", "ticket 4711"])
        #expect(restore.status == 0, "\(restore.stderr)")
        let credential = try #require(try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any])
        #expect(credential["applicationId"] as? String == world.simulator.storedOrganizations().first?.applicationId)
        #expect((credential["applicationCertificate"] as? String)?.isEmpty == false)
        #expect((credential["applicationCertificatePassword"] as? String)?.count == 32)
        let audit = try world.run(["audit", "show"])
        #expect(audit.stdout.contains("restore-credential: ticket 4711"))
        let metadata = try world.run(["restore-credential", "contoso", "--metadata-only"])
        #expect(!metadata.stdout.contains("applicationCertificatePassword"))
    }

    @Test("SIGKILL right after VB365 processed the POST, before the client recorded it: resume finds the one organization")
    func killedAfterPost() throws {
        let world = try OnboardingWorld(.v8)
        let start = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--json"])
        let code = try #require(try world.json(start)["userCode"] as? String)
        world.simulator.signIn(userCode: code)
        // VB365 processes the POST at once but answers only after 5 s; the client dies before.
        world.simulator.delay("POST Organizations", seconds: 5)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["onboard", "resume", "contoso"] + world.connection
        process.environment = ProcessInfo.processInfo.environment.merging(world.env) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while world.posts() == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(world.posts() == 1)
        #expect(world.simulator.storedOrganizations().count == 1, "VB365 added it")
        let status = try world.json(try world.run(["onboard", "status", "contoso", "--json"]))
        #expect(status["state"] as? String == "adding-organization", "the client never learned the outcome")

        world.simulator.delay("POST Organizations", seconds: 0)
        let resumed = try world.run(["onboard", "resume", "contoso", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let record = try world.json(resumed)
        #expect(record["state"] as? String == "onboarded")
        #expect(world.posts() == 1, "no second POST")
        #expect(world.simulator.storedOrganizations().count == 1)
        #expect(record["organizationId"] as? String == world.simulator.storedOrganizations()[0].id)
        let show = try world.run(["restore-credential", "contoso", "--metadata-only"])
        #expect(show.stdout.contains(world.simulator.storedOrganizations()[0].id!), "the vault knows the id")
    }

    @Test("wait gives up with exit status 3 when the customer never signs in; an expired code says to renew it")
    func waitAndExpiry() throws {
        let world = try OnboardingWorld(.v8)
        _ = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com"])
        let waited = try world.run(["onboard", "wait", "contoso", "--max-wait", "0.5", "--interval", "0.2"])
        #expect(waited.status == 3)
        #expect(waited.stdout.contains("awaiting-customer"))
        world.simulator.expireDeviceCodes()  // the customer took too long
        let expired = try world.run(["onboard", "resume", "contoso"])
        #expect(expired.status == 1)
        #expect(expired.stdout.contains("renew-code"))
        let renewed = try world.run(["onboard", "renew-code", "contoso", "--json"])
        let code = try #require(try world.json(renewed)["userCode"] as? String)
        world.simulator.signIn(userCode: code)
        #expect(try world.run(["onboard", "wait", "contoso", "--interval", "0.2"]).status == 0)
    }

    @Test("bad input: unknown region, path-like tenant, no vault; messages say what to do")
    func badInput() throws {
        let world = try OnboardingWorld()
        let region = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--region", "USDefense"])
        #expect(region.status != 0)
        #expect(region.stderr.contains("USDefence"))
        let traversal = try world.run(["onboard", "start", "../../etc", "--org-name", "contoso.onmicrosoft.com"])
        #expect(traversal.status == 1)
        let noVault = try CLI.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com"] + world.connection,
                                  environment: world.env.merging(["CERTVAULT_VAULT": world.dir.file("none")]) { $1 })
        #expect(noVault.status == 1)
        #expect(noVault.stderr.contains("certvault init"))
        #expect(world.simulator.received().filter { $0.path.hasSuffix("DeviceCode") }.isEmpty)
    }
}

@Suite("certvault demo: the README's first command")
struct DemoCommandTests {
    @Test("runs the whole flow against the built-in simulator and never prints a password", arguments: ["v6", "v8"])
    func demo(version: String) throws {
        let dir = try TemporaryDirectory()
        let output = try CLI.run(["demo", "--dir", dir.file("demo"), "--api-version", version, "--policy", CLI.defaultPolicy])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("contoso: onboarded"))
        #expect(output.stdout.contains("\"matchesVB365\": true"))
        #expect(!output.stdout.contains("applicationCertificatePassword"))
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir.file("demo"))
        #expect(runs.count == 1)
        #expect(try TemporaryDirectory.mode(dir.file("demo/\(runs[0])")) == 0o700)
        let again = try CLI.run(["demo", "--dir", dir.file("demo"), "--api-version", version, "--policy", CLI.defaultPolicy])
        #expect(again.status == 0, "a second run gets a folder of its own")
        // A reader that goes away early (| head) ends it quietly, not with a crash report.
        let piped = try CLI.shell("\"$CERTVAULT\" demo --dir demo2 --api-version \(version) --policy \(CLI.defaultPolicy) 2>err.txt | head -1 >/dev/null; cat err.txt",
                                  in: dir.path)
        #expect(!piped.stdout.contains("crashed") && !piped.stdout.contains("Fatal error"), "\(piped.stdout.prefix(500))")
    }
}

@Suite("certvault onboard start --from: many tenants at once")
struct BulkOnboardTests {
    @Test("200 tenants from a CSV, signed in at once: all onboarded, none duplicated, all recorded, codes exported")
    func twoHundred() throws {
        let world = try OnboardingWorld(.v8) { $0.signInAfter = 0 }
        var csv = "tenant,org_name,display_name,region,services,ticket\n"
        for index in 0..<200 { csv += "t\(index),t\(index).onmicrosoft.com,\"Tenant \(index), Ltd\",Worldwide,exchange;sharepoint,T-\(index)\n" }
        let file = try world.dir.write("tenants.csv", csv)
        let export = world.dir.file("codes.csv")
        let output = try world.run(["onboard", "start", "--from", file, "--jobs", "8", "--wait", "120", "--export", export, "--json"])
        #expect(output.status == 0, "\(output.stderr.suffix(2000))")
        let records = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        #expect(records.count == 200)
        #expect(records.allSatisfy { $0["state"] as? String == "onboarded" })
        let organizations = world.simulator.storedOrganizations()
        #expect(organizations.count == 200)
        #expect(Set(organizations.compactMap(\.officeName)).count == 200, "no duplicates")
        #expect(world.posts() == 200, "one POST per tenant")
        #expect(Set(records.compactMap { $0["organizationId"] as? String }) == Set(organizations.compactMap(\.id)))
        let exported = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n")
        #expect(exported.count == 201)
        #expect(exported[1].contains("\"Tenant 0, Ltd\"") || exported.contains { $0.contains("\"Tenant 0, Ltd\"") })
        #expect(try TemporaryDirectory.mode(export) == 0o600)
        let listed = try world.run(["list", "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(entries.count == 200)
        let status = try world.run(["onboard", "status", "t7", "--json"])
        #expect(try world.json(status)["intake"].flatMap { ($0 as? [String: Any])?["providerFields"] as? [String: String] } == ["ticket": "T-7"])
    }

    @Test("a bad row stops everything before the first call, naming file and line")
    func badRow() throws {
        let world = try OnboardingWorld()
        let file = try world.dir.write("tenants.csv", "tenant,org_name,region\na,a.onmicrosoft.com,Worldwide\nb,b.onmicrosoft.com,Mars\n")
        let output = try world.run(["onboard", "start", "--from", file])
        #expect(output.status == 1)
        #expect(output.stderr.contains("tenants.csv:3"))
        #expect(output.stderr.contains("Mars"))
        #expect(world.simulator.received().isEmpty)
        let json = try world.dir.write("tenants.json", #"[{"tenant":"a","orgName":"a.onmicrosoft.com"},{"tenant":"a","orgName":"b.onmicrosoft.com"}]"#)
        let duplicate = try world.run(["onboard", "start", "--from", json])
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr.contains("listed again"))
    }

    @Test("JSON intake, then wait --all picks up every paused tenant")
    func jsonAndWaitAll() throws {
        let world = try OnboardingWorld(.v6)
        let file = try world.dir.write("tenants.json", #"""
            [{"tenant":"a","orgName":"a.onmicrosoft.com","services":["exchange","sharepoint","teams"],"fields":{"crm":"42"}},
             {"tenant":"b","orgName":"b.onmicrosoft.com","region":"Germany"}]
            """#)
        let started = try world.run(["onboard", "start", "--from", file, "--export", world.dir.file("codes.json")])
        #expect(started.status == 0, "\(started.stderr)")
        let codes = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: world.dir.file("codes.json")))) as? [[String: Any]])
        #expect(codes.count == 2)
        for code in codes { world.simulator.signIn(userCode: code["userCode"] as! String) }
        let waited = try world.run(["onboard", "wait", "--all", "--interval", "0.2", "--max-wait", "30"])
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(world.simulator.storedOrganizations().count == 2)
        #expect(world.simulator.storedOrganizations().first { $0.officeName == "b.onmicrosoft.com" }?.region == .germany)
    }
}
