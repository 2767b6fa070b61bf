import CertVaultCore
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

/// Checks every request body our client sends and every response the simulator returns against
/// the official OpenAPI description of the version, with Python's `jsonschema` (not ours),
/// through Tests/Scripts/vb365_schema_check.py. The specs are the project's copy in
/// Tests/Fixtures/vb365-openapi (source and licence in its README), or `$CERTVAULT_VB365_OPENAPI`.
enum SpecFiles {
    static let folder: String = {
        if let configured = ProcessInfo.processInfo.environment["CERTVAULT_VB365_OPENAPI"], !configured.isEmpty { return configured }
        return "\(TestEnvironment.packageRoot)/Tests/Fixtures/vb365-openapi"
    }()

    static func spec(_ version: VB365APIVersion) -> String { "\(folder)/vb365_rest_\(version.rawValue).json" }

    static let present = FileManager.default.fileExists(atPath: spec(.v8))

    static let checkerAvailable: Bool = {
        guard ExternalTool.python3.isAvailable, let result = try? ExternalTool.python3.run(["-c", "import jsonschema"]) else { return false }
        return result.status == 0
    }()
}

@Suite("Spec conformance: client requests and simulator responses validate against the official OpenAPI schemas",
       .enabled(if: SpecFiles.present || TestEnvironment.toolsRequired, "the OpenAPI descriptions are absent from Tests/Fixtures/vb365-openapi"),
       .enabled(if: SpecFiles.checkerAvailable || TestEnvironment.toolsRequired, "python3 with jsonschema is needed"))
struct SpecConformanceTests {
    @Test("every exchange of a full session, errors included, validates", arguments: VB365APIVersion.allCases)
    func conformance(version: VB365APIVersion) throws {
        let harness = try Harness(version)
        let client = try harness.client(version: version)
        _ = try client.serviceInstance()
        _ = try client.organizations()
        let code = try client.createDeviceCode(region: .usGovernment)
        _ = try client.checkDeviceCode(code.userCode)
        let credential = try Fixtures.credential()
        // Refused (not signed in yet): a 400 RESTExceptionInfo.
        _ = try? client.addOrganization(Fixtures.organization("contoso.onmicrosoft.com", code: code.userCode, credential: credential, region: .usGovernment))
        harness.simulator.signIn(userCode: code.userCode)
        _ = try client.checkDeviceCode(code.userCode)
        let added = try client.addOrganization(Fixtures.organization("contoso.onmicrosoft.com", code: code.userCode, credential: credential, region: .usGovernment))
        let id = try #require(added.id)
        _ = try client.organizations()
        if version == .v8 { _ = try client.organizations(msid: added.msid) }
        _ = try client.organization(id: id)
        _ = try? client.organization(id: UUID().uuidString.lowercased())  // 404
        var update = Fixtures.organization("contoso.onmicrosoft.com", code: code.userCode, credential: try Fixtures.credential(), region: .usGovernment)
        update.userCode = nil
        update.newApplicationName = nil
        try client.updateOrganization(id: id, update)
        harness.simulator.expireTokens()
        _ = try client.organizations()  // 401, then the token call, then 200

        let exchanges = harness.simulator.received().filter { $0.note == nil && $0.path.lowercased().hasPrefix("/\(version.rawValue)/") }
        #expect(Set(exchanges.map(\.status)).isSuperset(of: [200, 204, 400, 401, 404]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try exchanges.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        let file = try harness.dir.write("exchanges-\(version.rawValue).jsonl", lines)
        let script = "\(TestEnvironment.packageRoot)/Tests/Scripts/vb365_schema_check.py"
        let result = try ExternalTool.python3.run([script, "--spec", SpecFiles.spec(version), "--exchanges", file, "--strict-access"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("checked \(exchanges.count) exchanges"), "\(result.stdout)")
    }

    @Test("the specs are in the project, with their source and licence, and the checker finds them by version")
    func specsInProject() throws {
        let folder = "\(TestEnvironment.packageRoot)/Tests/Fixtures/vb365-openapi"
        for version in VB365APIVersion.allCases {
            #expect(FileManager.default.fileExists(atPath: "\(folder)/vb365_rest_\(version.rawValue).json"))
        }
        let readme = try String(contentsOfFile: "\(folder)/README.md", encoding: .utf8)
        #expect(readme.contains("Cenvora/veeam-365") && readme.contains("Apache License 2.0"))
        #expect(try String(contentsOfFile: "\(folder)/LICENSE", encoding: .utf8).contains("Apache License"))
        let dir = try TemporaryDirectory()
        let empty = try dir.write("none.jsonl", "")
        let script = "\(TestEnvironment.packageRoot)/Tests/Scripts/vb365_schema_check.py"
        let result = try ExternalTool.python3.run([script, "--api-version", "v8", "--exchanges", empty], environment: ["CERTVAULT_VB365_OPENAPI": ""])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("checked 0 exchanges"))
    }

    @Test("the checker itself catches a wrong success status and a wrong enum value")
    func checkerCatches() throws {
        let dir = try TemporaryDirectory()
        let bad = #"""
            {"method":"POST","path":"/v8/Organizations","status":200,"requestContentType":"application/json","requestBody":{"type":"Microsoft365"},"responseBody":{}}
            """#
        let file = try dir.write("bad.jsonl", bad + "\n")
        let script = "\(TestEnvironment.packageRoot)/Tests/Scripts/vb365_schema_check.py"
        let result = try ExternalTool.python3.run([script, "--spec", SpecFiles.spec(.v8), "--exchanges", file])
        #expect(result.status == 1)
        #expect(result.stdout.contains("Microsoft365"))
        #expect(result.stdout.contains("200"))
    }
}
