import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

@Suite("certvault onboard: exit codes, JSON shapes, tables and intake checks as users meet them", .serialized)
struct OnboardOutputTests {
    @Test("wait --all exits 3 like a single wait when tenants still await their customer at --max-wait")
    func waitAllExitCode() throws {
        let world = try OnboardingWorld(.v8)
        let file = try world.dir.write("tenants.csv", "tenant,org_name\na,a.onmicrosoft.com\nb,b.onmicrosoft.com\n")
        let started = try world.run(["onboard", "start", "--from", file, "--json"])
        try #require(started.status == 0, "\(started.stderr)")
        let codes = try world.jsonArray(started)
        let a = try #require(codes.first { $0["intake"].flatMap { ($0 as? [String: Any])?["tenant"] as? String } == "a" })
        world.simulator.signIn(userCode: try #require(a["userCode"] as? String))
        let waited = try world.run(["onboard", "wait", "--all", "--interval", "0.2", "--max-wait", "1"])
        #expect(waited.status == 3, "\(waited.stderr)")
        #expect(waited.stderr.contains("still awaiting"))
        let single = try world.run(["onboard", "wait", "b", "--interval", "0.2", "--max-wait", "0.5"])
        #expect(single.status == 3)
        #expect(world.simulator.storedOrganizations().count == 1)
    }

    @Test("a tenant's commands print one JSON object with --json; status of all prints an array")
    func jsonShapes() throws {
        let world = try OnboardingWorld(.v8)
        let start = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--json"])
        #expect(try world.json(start)["state"] as? String == "awaiting-customer")
        #expect(try world.json(try world.run(["onboard", "status", "contoso", "--json"]))["state"] as? String == "awaiting-customer")
        #expect(try world.json(try world.run(["onboard", "resume", "contoso", "--json"]))["state"] as? String == "awaiting-customer")
        #expect(try world.jsonArray(try world.run(["onboard", "status", "--json"])).count == 1)
    }

    @Test("onboard status lines its columns up, and shows server text from old records escaped")
    func statusTable() throws {
        let world = try OnboardingWorld(.v8)
        _ = try world.run(["onboard", "start", "a", "--org-name", "a.onmicrosoft.com"])
        _ = try world.run(["onboard", "start", "a-much-longer-tenant-id", "--org-name", "a-much-longer-organization-name.onmicrosoft.com"])
        // A record as an older version wrote it: server text stored raw.
        let path = world.dir.file("onboarding/a.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        object["verificationUrl"] = "https://evil.example/\u{1B}]0;owned\u{07}"
        object["organizationId"] = "id\u{1B}[2J"
        object["failure"] = ["reason": "VB365 said \u{1B}[31mred", "hint": "x\u{0D}y", "at": "2026-01-01T00:00:00Z"]
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))

        let status = try world.run(["onboard", "status"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(!status.stdout.contains("\u{1B}") && !status.stdout.contains("\u{07}"))
        let lines = status.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first)
        let stateColumn = try #require(header.range(of: "state")).lowerBound.utf16Offset(in: header)
        for line in lines.dropFirst().prefix(2) {
            let state = try #require(line.range(of: "awaiting-customer"), "\(line)")
            #expect(state.lowerBound.utf16Offset(in: line) == stateColumn, "columns line up:\n\(status.stdout)")
        }
        #expect(!status.stdout.contains("\t"))
        let one = try world.run(["onboard", "status", "a"])
        #expect(!one.stdout.contains("\u{1B}") && !one.stdout.contains("\u{0D}") && !one.stdout.contains("\u{07}"))
        #expect(one.stdout.contains("\\u{1B}"))
    }

    @Test("rotate --due --dry-run lines its columns up")
    func dueTable() throws {
        let world = try OnboardingWorld(.v8) { $0.signInAfter = 0 }
        for tenant in ["a", "a-much-longer-tenant-id"] {
            let started = try world.run(["onboard", "start", tenant, "--org-name", "\(tenant).onmicrosoft.com", "--wait", "30"])
            try #require(started.status == 0, "\(started.stderr)")
        }
        let due = try world.run(["rotate", "--due", "--dry-run", "--within-days", "800"])
        #expect(due.status == 0, "\(due.stderr)")
        #expect(!due.stdout.contains("\t"))
        let lines = due.stdout.split(separator: "\n").map(String.init)
        let column = try #require(lines.first?.range(of: "generation")).lowerBound.utf16Offset(in: lines[0])
        for line in lines.dropFirst().prefix(2) {
            #expect(line.range(of: " 1 ").map { $0.lowerBound.utf16Offset(in: line) + 1 } == column, "\(due.stdout)")
        }
    }

    @Test("VB365 names the organization differently: status shows VB365's name with a warning")
    func renamed() throws {
        let world = try OnboardingWorld(.v8) {
            $0.signInAfter = 0
            $0.organizationNames = ["contoso.onmicrosoft.com": "contosoltd.onmicrosoft.com"]
        }
        let started = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--wait", "30"])
        #expect(started.status == 0, "\(started.stderr)")
        let status = try world.run(["onboard", "status", "contoso"])
        #expect(status.stdout.contains("warning:"), "\(status.stdout)")
        #expect(status.stdout.contains("VB365 named the organization 'contosoltd.onmicrosoft.com', not 'contoso.onmicrosoft.com'"))
        #expect(try world.json(try world.run(["onboard", "status", "contoso", "--json"]))["vb365OrganizationName"] as? String
                == "contosoltd.onmicrosoft.com")
    }

    @Test("services VB365 refuses are refused at start, before any call to VB365")
    func refusedServices() throws {
        let world = try OnboardingWorld(.v8)
        for services in ["teams", "exchange,teams", "teamschats"] {
            let output = try world.run(["onboard", "start", "contoso", "--org-name", "contoso.onmicrosoft.com", "--services", services])
            #expect(output.status == 1, "\(services)")
            #expect(output.stderr.contains("hint:"))
            #expect(!output.stderr.contains(".."), "\(output.stderr)")
        }
        #expect(world.simulator.received().isEmpty, "nothing was sent")
        #expect(try world.jsonArray(try world.run(["list", "--json"])).isEmpty, "no certificate issued")
    }
}
