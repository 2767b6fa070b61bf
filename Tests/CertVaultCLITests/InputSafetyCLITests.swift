import CertVaultTesting
import Foundation
import Testing

@Suite("Text from files reaches the terminal escaped; intake files are read strictly", .serialized)
struct InputSafetyCLITests {
    @Test("issue --from reads a CSV with a byte order mark and CR-only line endings")
    func bomAndCarriageReturns() throws {
        let dir = try TemporaryDirectory()
        try dir.write("t.csv", bytes: [0xEF, 0xBB, 0xBF] + Array("tenant,org\rorgabc,\"Org, ABC\"\rorgdef,Org DEF\r".utf8))
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy, "--out", dir.file("out")])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.file("out/orgabc/orgabc.pfx")))
        #expect(FileManager.default.fileExists(atPath: dir.file("out/orgdef/orgdef.pfx")))
    }

    @Test("issue --from refuses a file that is not UTF-8, naming file and line, and issues nothing")
    func notUTF8() throws {
        let dir = try TemporaryDirectory()
        try dir.write("t.csv", bytes: Array("tenant,org\nalpha,Alpha\nbeta,B".utf8) + [0xE4] + Array("ta\n".utf8))
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy, "--out", dir.file("out")])
        #expect(result.status != 0)
        #expect(result.stderr.contains("t.csv:3: the file is not UTF-8 text"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/alpha")))
    }

    @Test("a header with terminal escapes is refused and echoed escaped")
    func hostileHeader() throws {
        let dir = try TemporaryDirectory()
        try dir.write("t.csv", "tenant,\"o\u{202E}rg\"\nalpha,x\n")
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy, "--out", dir.file("out")])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown column 'o\\u{202E}rg'"), "\(result.stderr)")
        #expect(!result.stderr.contains("\u{202E}"))
    }

    @Test("inspect shows a PFX's friendly name with its control characters escaped", .enabled(if: ExternalTool.openssl.isAvailable))
    func friendlyNameEscaped() throws {
        let dir = try TemporaryDirectory()
        let key = dir.file("k.pem"), cert = dir.file("c.pem"), pfx = dir.file("o.pfx")
        let passwordFile = try dir.write("pw.txt", "friendly-name-test")
        try #require(try ExternalTool.openssl.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                   "-subj", "/CN=x", "-days", "3"]).status == 0)
        let export = try ExternalTool.openssl.run(["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", pfx,
                                                   "-name", "evil\u{1B}]0;owned\u{07}\u{1B}[2J", "-passout", "file:\(passwordFile)"])
        try #require(export.status == 0, "\(export.stderr)")
        let result = try CLI.run(["inspect", pfx, "--password-file", passwordFile])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("friendly name  evil\\u{1B}]0;owned\\u{07}\\u{1B}[2J"), "\(result.stdout)")
        #expect(!result.stdout.contains("\u{1B}"))
    }
}
