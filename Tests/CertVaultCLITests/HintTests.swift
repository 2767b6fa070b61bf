import CertVaultTesting
import Foundation
import Testing

@Suite("Hints that say what to do")
struct HintTests {
    @Test("a non-ASCII supplied password is told to use printable ASCII, not to be longer")
    func nonASCIIPassword() throws {
        let dir = try TemporaryDirectory()
        let file = try dir.write("pw.txt", "pässwörd-that-is-long-enough-1234\n")
        let result = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.file("out"), "--password-file", file])
        #expect(result.status == 1)
        #expect(result.stderr.contains("outside printable ASCII"), "\(result.stderr)")
        #expect(result.stderr.contains("Use only printable ASCII"))
        #expect(!result.stderr.contains("longer"))
    }

    @Test("a duplicate row in issue --from names the line to fix, not a missing header row")
    func duplicateRow() throws {
        let dir = try TemporaryDirectory()
        let file = try dir.write("tenants.csv", "tenant,org\ncontoso,Contoso\ncontoso,Contoso again\n")
        let result = try CLI.run(["issue", "--from", file, "--policy", CLI.defaultPolicy, "--out", dir.file("out")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("tenants.csv:3"), "\(result.stderr)")
        #expect(!result.stderr.contains("header row"), "\(result.stderr)")
        #expect(result.stderr.contains("Fix line 3"))
    }

    @Test("no VB365 account: the hint quotes DOMAIN\\user, as the shell needs")
    func quotedUser() throws {
        let dir = try TemporaryDirectory()
        let password = try dir.write("pw", "x\n")
        let result = try CLI.run(["vb365", "check", "--url", "https://127.0.0.1:9", "--vb365-password-file", password])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--user 'DOMAIN\\user'"), "\(result.stderr)")
    }
}

@Suite("certvault demo names the command as it was run")
struct DemoInvocationTests {
    @Test("installed (found on PATH): the follow-up commands say 'certvault', not .build/release/certvault")
    func installed() throws {
        let dir = try TemporaryDirectory()
        let bin = dir.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(bin)/certvault", withDestinationPath: CLI.binary)
        let output = try CLI.shell("PATH='\(bin)':\"$PATH\" certvault demo --dir demo", in: dir.path)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("\n  certvault onboard status contoso"), "\(output.stdout.suffix(800))")
        #expect(!output.stdout.contains(".build/release/certvault"))
        let byPath = try CLI.shell("\"$CERTVAULT\" demo --dir demo", in: dir.path)
        #expect(byPath.stdout.contains("\(CLI.binary) onboard status contoso"))
    }
}
