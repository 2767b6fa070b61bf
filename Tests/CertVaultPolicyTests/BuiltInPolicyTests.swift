import CertVaultCore
import CertVaultPolicy
import CertVaultTesting
import Foundation
import Testing

@Suite("The built-in default policy")
struct BuiltInPolicyTests {
    @Test("is policy/default.toml, byte for byte")
    func sameBytes() throws {
        let file = try #require(FileManager.default.contents(atPath: TestEnvironment.policy("default")))
        #expect(Array(PolicyLoader.builtInDefaultText.utf8) == Array(file))
    }

    @Test("reads to the same policy as the file, named 'default'")
    func samePolicy() throws {
        let builtIn = try PolicyLoader.builtInDefault()
        #expect(builtIn == (try PolicyLoader.load(path: TestEnvironment.policy("default"))))
        #expect(builtIn.name == "default")
        #expect(try PolicyLoader.load(pathOrBuiltIn: nil) == builtIn)
    }

    @Test("a missing policy file: the hint does not send the user back to the path that just failed")
    func missingHint() throws {
        let error = try #require(throws: CertVaultError.self) { try PolicyLoader.load(path: "policy/default.toml-missing") }
        #expect(error.reason.contains("policy/default.toml-missing"))
        let hint = try #require(error.hint)
        #expect(!hint.contains("such as policy/default.toml"))
        #expect(hint.contains("built-in default"))
    }
}
