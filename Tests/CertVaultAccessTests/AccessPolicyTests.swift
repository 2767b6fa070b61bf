import CertVaultAccess
import CertVaultCore
import CertVaultTesting
import Foundation
import Testing

@Suite("Access policies: policy/access/NAME.toml")
struct AccessPolicyTests {
    @Test("The shipped sample policies load with the scopes the documentation gives them")
    func samples() throws {
        let set = try AccessPolicySet.load(folder: "\(TestEnvironment.packageRoot)/policy/access")
        #expect(set.names == ["onboarding-portal", "restore-tooling", "security-team"])
        #expect(set["restore-tooling"]?.scopes == [.tenantsRead, .credentialsRead])
        #expect(set["onboarding-portal"]?.scopes == [.onboardingRead, .onboardingWrite, .tenantsRead])
        #expect(set["security-team"]?.scopes == [.tenantsRead, .certificatesIssue, .certificatesRotate, .auditRead])
        #expect(set["restore-tooling"]?.tenants == nil, "\"*\": every tenant")
    }

    @Test("Tenants: ids and patterns, \"*\" for every tenant, [] for none")
    func tenants() throws {
        let listed = try AccessPolicy.parse(
            "name = \"p\"\nscopes = [\"tenants:read\"]\ntenants = [\"contoso\", \"eu-*\"]\n", file: "access/p.toml")
        #expect(listed.tenants?.matches(try TenantID("eu-x")) == true)
        #expect(listed.tenants?.matches(try TenantID("us-x")) == false)
        let all = try AccessPolicy.parse("name = \"p\"\nscopes = [\"tenants:read\"]\ntenants = [\"*\"]\n", file: "p.toml")
        #expect(all.tenants == nil)
        let none = try AccessPolicy.parse("name = \"p\"\nscopes = [\"audit:read\"]\ntenants = []\n", file: "p.toml")
        #expect(none.tenants?.matches(try TenantID("contoso")) == false)
    }

    struct BadPolicy: Sendable, CustomTestStringConvertible {
        let text: String
        let reason: String
        let line: Int?
        init(_ text: String, _ reason: String, _ line: Int?) {
            self.text = text
            self.reason = reason
            self.line = line
        }
        var testDescription: String { reason }
    }

    static let badFiles: [BadPolicy] = [
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\",\n  \"tenants:write\"]\ntenants = \"*\"\n", "unknown scope", 2),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"]\ntenants = [\"e*u\"]\n", "Invalid tenant", 3),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"]\ntenants = [\"../../etc\"]\n", "Invalid tenant id", 3),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"]\n\ntenants = [\"*\", \"contoso\"]\n", "nothing else", 4),
        BadPolicy("name = \"other\"\nscopes = [\"tenants:read\"]\ntenants = \"*\"\n", "not the file's name", 1),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"]\ntenants = \"*\"\nadmin = true\n", "unknown key 'admin'", 4),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"]\ntenants = \"*\"\n[extra]\n", "tables are not allowed", 4),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"\ntenants = \"*\"\n", "expected ',' or ']'", 3),
        BadPolicy("name = \"p\"\nscopes = \"tenants:read\"\ntenants = \"*\"\n", "must be an array", 2),
        BadPolicy("name = \"p\"\nscopes = []\ntenants = \"*\"\n", "scopes is empty", 2),
        BadPolicy("name = \"p\"\nscopes = [\"audit:read\", \"audit:read\"]\ntenants = \"*\"\n", "listed twice", 2),
        BadPolicy("name = \"p\"\nscopes = [\"audit:read\"]\ntenants = \"contoso\"\n", "tenants must be", 3),
        BadPolicy("name = \"p\"\nscopes = [\"tenants:read\"]\n", "'tenants' is missing", nil),
        BadPolicy("name = \"p\"\ntenants = \"*\"\n", "'scopes' is missing", nil),
    ]

    @Test("A bad file is refused with its file, line and reason", arguments: badFiles)
    func badFile(_ bad: BadPolicy) throws {
        let (text, reason, line) = (bad.text, bad.reason, bad.line)
        let dir = try TemporaryDirectory()
        try dir.write("p.toml", text, mode: 0o644)
        do {
            _ = try AccessPolicySet.load(folder: dir.path)
            Issue.record("a bad access policy was accepted")
        } catch let error as CertVaultError {
            #expect(error.code == .invalidAccessPolicy)
            #expect(error.reason.contains(dir.file("p.toml")))
            #expect(error.reason.contains(reason), "\(error.reason)")
            if let line { #expect(error.reason.contains("line \(line):"), "\(error.reason)") }
            #expect(error.hint?.isEmpty == false)
        }
    }

    @Test("An unknown scope's error lists the known scopes")
    func unknownScopeHint() throws {
        let error = thrownError { try AccessPolicy.parse("name = \"p\"\nscopes = [\"admin\"]\ntenants = \"*\"\n", file: "p.toml") }
        #expect(error?.hint?.contains(Scope.allCases.map(\.rawValue).joined(separator: ", ")) == true)
    }

    @Test("Two policies with one name are refused")
    func duplicateName() throws {
        let first = AccessPolicy(name: "p", scopes: [.auditRead], tenants: nil, file: "a/p.toml")
        let second = AccessPolicy(name: "p", scopes: [.tenantsRead], tenants: nil, file: "b/p.toml")
        let error = thrownError { try AccessPolicySet([first, second]) }
        #expect(error?.code == .invalidAccessPolicy)
        #expect(error?.reason.contains("b/p.toml") == true)
    }

    @Test("A missing or empty folder is an empty set; other files are ignored")
    func emptyFolders() throws {
        let dir = try TemporaryDirectory()
        #expect(try AccessPolicySet.load(folder: dir.file("missing")).policies.isEmpty)
        #expect(try AccessPolicySet.load(folder: dir.path).policies.isEmpty)
        try dir.write("README.md", "# notes\n", mode: 0o644)
        try dir.write(".p.toml.swp", "garbage", mode: 0o644)
        #expect(try AccessPolicySet.load(folder: dir.path).policies.isEmpty)
    }

    @Test("A policy file any user may edit is refused")
    func worldWritable() throws {
        let dir = try TemporaryDirectory()
        try dir.write("p.toml", "name = \"p\"\nscopes = [\"audit:read\"]\ntenants = \"*\"\n", mode: 0o666)
        #expect(thrownError { try AccessPolicySet.load(folder: dir.path) }?.code == .insecurePermissions)
    }
}
