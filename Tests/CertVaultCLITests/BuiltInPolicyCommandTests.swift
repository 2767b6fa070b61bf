import CertVaultTesting
import Foundation
import Testing

@Suite("certvault outside its repository: the built-in default policy", .serialized)
struct BuiltInPolicyCommandTests {
    @Test("issue from a folder with no policy/ in it works, with the built-in default policy")
    func issueAnywhere() throws {
        let dir = try TemporaryDirectory()
        let result = try CLI.run(["issue", "contoso", "--out", "out", "--json"], environment: ["CERTVAULT_POLICY": ""], in: dir.path)
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        let summary = try #require(object["summary"] as? [String: Any])
        #expect(summary["policy"] as? String == "default")
        #expect(summary["pkcs12Profile"] as? String == "compat")
        #expect(FileManager.default.fileExists(atPath: dir.file("out/contoso/contoso.pfx")))
    }

    @Test("--policy and CERTVAULT_POLICY override the built-in default; --policy wins over the environment")
    func overrides() throws {
        let dir = try TemporaryDirectory()
        let modern = PolicyText.builtIn().replacingOccurrences(of: #"profile = "compat""#, with: #"profile = "modern""#)
            .replacingOccurrences(of: #"name = "default""#, with: #"name = "mine""#)
        try dir.write("mine.toml", modern)
        try dir.write("other.toml", PolicyText.builtIn().replacingOccurrences(of: #"name = "default""#, with: #"name = "other""#))
        let fromEnvironment = try CLI.run(["issue", "t-env", "--out", "out", "--json"], environment: ["CERTVAULT_POLICY": dir.file("mine.toml")],
                                          in: dir.path)
        try #require(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        #expect(try summary(fromEnvironment)["policy"] as? String == "mine")
        #expect(try summary(fromEnvironment)["pkcs12Profile"] as? String == "modern")
        let fromOption = try CLI.run(["issue", "t-opt", "--out", "out", "--json", "--policy", "other.toml"],
                                     environment: ["CERTVAULT_POLICY": dir.file("mine.toml")], in: dir.path)
        try #require(fromOption.status == 0, "\(fromOption.stderr)")
        #expect(try summary(fromOption)["policy"] as? String == "other")
    }

    func summary(_ result: ProcessOutput) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        return try #require(object["summary"] as? [String: Any])
    }

    @Test("policy default prints policy/default.toml; policy check without files checks the built-in default")
    func policyCommands() throws {
        let dir = try TemporaryDirectory()
        let printed = try CLI.run(["policy", "default"], in: dir.path)
        #expect(printed.status == 0)
        #expect(printed.stdoutData == (try Data(contentsOf: URL(fileURLWithPath: CLI.defaultPolicy))))
        let checked = try CLI.run(["policy", "check"], in: dir.path)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("built-in default policy: OK"))
    }
}

enum PolicyText {
    static func builtIn() -> String { (try? String(contentsOfFile: CLI.defaultPolicy, encoding: .utf8)) ?? "" }
}
