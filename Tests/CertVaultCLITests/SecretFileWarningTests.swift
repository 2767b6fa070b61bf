import CertVaultTesting
import Foundation
import Testing

@Suite("Secret files other users can read")
struct SecretFileWarningTests {
    @Test("a --password-file others can read is used, with a warning and the chmod that fixes it; a private one gets none",
          arguments: [(0o644, true), (0o640, true), (0o600, false), (0o400, false)])
    func warning(mode: Int, warned: Bool) throws {
        let dir = try TemporaryDirectory()
        let secret = "a-supplied-password-of-some-length"
        let file = try dir.write("pw.txt", secret + "\n", mode: mode)
        let result = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.file("out"), "--password-file", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: the secret file") == warned, "\(result.stderr)")
        #expect(result.stderr.contains("chmod 600 '\(file)'") == warned)
        #expect(!result.combined.contains(secret))
    }
}
