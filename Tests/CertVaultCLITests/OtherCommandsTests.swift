import CertVaultTesting
import Foundation
import Testing

@Suite("certvault inspect, policy check and version", .serialized)
struct OtherCommandsTests {
    @Test("inspect opens our PFX and reports the friendly name, thumbprint and key match")
    func inspect() throws {
        let dir = try TemporaryDirectory()
        let issued = try CLI.run(["issue", "contoso", "--org", "Contoso", "--policy", CLI.defaultPolicy, "--out", dir.path, "--json"])
        try #require(issued.status == 0)
        let summary = try #require((try JSONSerialization.jsonObject(with: issued.stdoutData) as? [String: Any])?["summary"] as? [String: Any])
        let result = try CLI.run(["inspect", dir.file("contoso/contoso.pfx"), "--password-file", dir.file("contoso/password.txt"), "--json"])
        try #require(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        #expect(report["friendlyName"] as? String == "Contoso VB365 Tenant")
        #expect(report["thumbprintSHA1"] as? String == summary["thumbprintSHA1"] as? String)
        #expect(report["keyMatchesCertificate"] as? Bool == true)
        #expect(report["keyBits"] as? Int == 2048)
    }

    @Test("inspect with a wrong password fails with a clear message")
    func inspectWrongPassword() throws {
        let dir = try TemporaryDirectory()
        try #require(try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.path]).status == 0)
        let result = try CLI.run(["inspect", dir.file("contoso/contoso.pfx"), "--password-env", "P"],
                                 environment: ["P": "definitely-not-it"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("The PFX password is wrong, or the file is damaged"))
        #expect(!result.stderr.contains("definitely-not-it"))
    }

    @Test("inspect on a truncated file says it is not a complete PFX")
    func inspectTruncated() throws {
        let dir = try TemporaryDirectory()
        try #require(try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.path]).status == 0)
        let pfx = try Data(contentsOf: URL(fileURLWithPath: dir.file("contoso/contoso.pfx")))
        try dir.write("cut.pfx", bytes: Array(pfx.prefix(700)))
        let result = try CLI.run(["inspect", dir.file("cut.pfx"), "--password-file", dir.file("contoso/password.txt")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("not a PKCS#12 (PFX) file, or it is truncated"))
    }

    @Test("policy check accepts the shipped policies and rejects a bad one with its line")
    func policyCheck() throws {
        let good = try CLI.run(["policy", "check", CLI.defaultPolicy, TestEnvironment.policy("veeam-sample")])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("RSA-4096"))
        let dir = try TemporaryDirectory()
        let bad = try dir.write("bad.toml", "[key]\nbits = 1024\n[subject]\nCN = \"{org}\"\n")
        let result = try CLI.run(["policy", "check", bad])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(bad):2: [key] bits = 1024 is not allowed"))
        #expect(result.stderr.contains("hint: See docs/policy.md"))
    }

    @Test("version names the C libraries in use")
    func version() throws {
        let result = try CLI.run(["version"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("certvault 0.1.0"))
        #expect(result.stdout.contains("OpenSSL 3."))
        #expect(result.stdout.contains("libsodium 1."))
        #expect(result.stdout.contains("libcurl/"))
    }

    @Test("the process turns off core dumps before it touches a key")
    func coreDumpsOff() throws {
        // certvault waits for its password on stdin while the shell reads its limits.
        let dir = try TemporaryDirectory()
        let script = "(sleep 1; echo a-long-enough-password-here) | \"$CERTVAULT\" issue contoso --policy '\(CLI.defaultPolicy)' "
            + "--out o --password-stdin & pid=$!; sleep 0.5; grep 'Max core file size' /proc/$pid/limits; wait $pid"
        let result = try CLI.shell(script, in: dir.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Max core file size        0                    0"), "\(result.stdout)")
    }
}
