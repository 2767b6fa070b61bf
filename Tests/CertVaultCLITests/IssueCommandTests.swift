import CertVaultTesting
import Foundation
import Testing

@Suite("certvault issue, as a user runs it", .serialized)
struct IssueCommandTests {
    @Test("issues one tenant: the files, their modes, a summary, and the password only in password.txt")
    func issueOne() throws {
        let dir = try TemporaryDirectory()
        let result = try CLI.run(["issue", "contoso", "--org", "Contoso", "--policy", CLI.defaultPolicy, "--out", dir.file("out")])
        try #require(result.status == 0, "\(result.stderr)")
        let folder = dir.file("out/contoso")
        #expect(try dir.listing() == ["out", "out/contoso", "out/contoso/contoso.cer", "out/contoso/contoso.pem",
                                      "out/contoso/contoso.pfx", "out/contoso/contoso.pfx.b64", "out/contoso/password.txt",
                                      "out/contoso/summary.json"])
        #expect(try TemporaryDirectory.mode(dir.file("out")) == 0o700)
        #expect(try TemporaryDirectory.mode(folder) == 0o700)
        for file in try FileManager.default.contentsOfDirectory(atPath: folder) {
            #expect(try TemporaryDirectory.mode("\(folder)/\(file)") == 0o600, "\(file)")
        }
        let password = try String(contentsOfFile: "\(folder)/password.txt", encoding: .utf8)
        #expect(password.count == 32)
        #expect(!result.stdout.contains(password) && !result.stderr.contains(password))
        #expect(!(try String(contentsOfFile: "\(folder)/summary.json", encoding: .utf8)).contains(password))
        #expect(result.stdout.contains("thumbprint"))
        #expect(result.stdout.contains("openssl x509 -in \(folder)/contoso.pem -noout -text"))
        let pfx = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/contoso.pfx"))
        let base64 = try String(contentsOfFile: "\(folder)/contoso.pfx.b64", encoding: .utf8)
        #expect(base64 == pfx.base64EncodedString())

        // The inspection command the summary prints works as printed.
        if ExternalTool.openssl.isAvailable {
            let check = try ExternalTool.openssl.run(["pkcs12", "-info", "-noout", "-in", "\(folder)/contoso.pfx",
                                                      "-passin", "file:\(folder)/password.txt"])
            #expect(check.status == 0, "\(check.stderr)")
        }
    }

    @Test("--json prints the summary and paths, never the password")
    func json() throws {
        let dir = try TemporaryDirectory()
        let result = try CLI.run(["issue", "fabrikam", "--domain", "fabrikam.onmicrosoft.com", "--policy", CLI.defaultPolicy,
                                  "--out", dir.path, "--json"])
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        let summary = try #require(object["summary"] as? [String: Any])
        let files = try #require(object["files"] as? [String: Any])
        #expect(summary["tenant"] as? String == "fabrikam")
        #expect(summary["friendlyName"] as? String == "fabrikam VB365 Tenant")
        #expect((summary["thumbprintSHA1"] as? String)?.count == 40)
        #expect(summary["keyBits"] as? Int == 2048)
        #expect(summary["pkcs12Profile"] as? String == "compat")
        #expect(files["pfx"] as? String == "\(dir.path)/fabrikam/fabrikam.pfx")
        let password = try String(contentsOfFile: "\(dir.path)/fabrikam/password.txt", encoding: .utf8)
        #expect(!result.stdout.contains(password))
    }

    @Test("a password from a file, stdin, a file descriptor or the environment is used; never echoed")
    func suppliedPasswords() throws {
        let dir = try TemporaryDirectory()
        let secret = "a-supplied-password-of-some-length"
        try dir.write("pw.txt", secret + "\n")
        let runs: [(String, ProcessOutput)] = [
            ("t-file", try CLI.run(["issue", "t-file", "--policy", CLI.defaultPolicy, "--out", dir.file("o"), "--password-file", dir.file("pw.txt")])),
            ("t-stdin", try CLI.run(["issue", "t-stdin", "--policy", CLI.defaultPolicy, "--out", dir.file("o"), "--password-stdin"],
                                    input: Data((secret + "\n").utf8))),
            ("t-env", try CLI.run(["issue", "t-env", "--policy", CLI.defaultPolicy, "--out", dir.file("o"), "--password-env", "MY_PFX_PASSWORD"],
                                  environment: ["MY_PFX_PASSWORD": secret])),
            ("t-fd", try CLI.shell("\"$CERTVAULT\" issue t-fd --policy '\(CLI.defaultPolicy)' --out o --password-fd 3 3<pw.txt", in: dir.path)),
        ]
        for (tenant, result) in runs {
            #expect(result.status == 0, "\(tenant): \(result.stderr)")
            #expect(!result.combined.contains(secret))
            #expect(result.stdout.contains("password supplied"))
            let stored = try String(contentsOfFile: dir.file("o/\(tenant)/password.txt"), encoding: .utf8)
            #expect(stored == secret)
        }
    }

    @Test("--password-out fd:3 sends 'tenant<TAB>password' to the descriptor and writes no password.txt")
    func passwordOut() throws {
        let dir = try TemporaryDirectory()
        let result = try CLI.shell("\"$CERTVAULT\" issue contoso --policy '\(CLI.defaultPolicy)' --out o --password-out fd:3 3>pw.tsv",
                                   in: dir.path)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("o/contoso/password.txt")))
        let line = try String(contentsOfFile: dir.file("pw.tsv"), encoding: .utf8)
        let parts = line.dropLast().split(separator: "\t")
        #expect(parts.count == 2 && parts[0] == "contoso" && parts[1].count == 32)
        #expect(!result.combined.contains(String(parts[1])))
        #expect(result.stdout.contains("the PFX password went to file descriptor 3"))
    }

    @Test("a failed run removes the --password-out file it created")
    func passwordOutRemovedOnFailure() throws {
        let dir = try TemporaryDirectory()
        let result = try CLI.run(["issue", "../../etc", "--policy", CLI.defaultPolicy, "--out", dir.file("out"),
                                  "--password-out", dir.file("pw.tsv")])
        #expect(result.status == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.file("pw.tsv")))
        // An existing file is never overwritten.
        try dir.write("old.tsv", "keep me")
        let again = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.file("out"),
                                 "--password-out", dir.file("old.tsv")])
        #expect(again.status == 1)
        #expect(again.stderr.contains("Cannot create the password file"))
        #expect(try String(contentsOfFile: dir.file("old.tsv"), encoding: .utf8) == "keep me")
    }

    @Test("there is no way to give a password as an argument")
    func noPasswordArgument() throws {
        let result = try CLI.run(["issue", "contoso", "--password", "visible-in-ps"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("Unknown option '--password'"))
    }

    @Test("bad input: a clear error, non-zero exit, nothing written", arguments: [
        (["issue", "../../etc"], "Invalid tenant id '../../etc': it contains a path separator"),
        (["issue", ""], "Invalid tenant id '': it is empty"),
        (["issue", "   "], "it contains whitespace"),
        (["issue", "bad\u{1B}[31mred"], "it contains a control character"),
        (["issue", String(repeating: "a", count: 10_240)], "more than 64"),
        (["issue", "contoso", "--policy", "/nonexistent/p.toml"], "Policy file '/nonexistent/p.toml' does not exist."),
        (["issue", "contoso", "--password-file", "/nonexistent/pw"], "Cannot open the secret file '/nonexistent/pw'."),
        (["issue", "contoso", "--password-env", "CERTVAULT_UNSET_VARIABLE"], "Environment variable CERTVAULT_UNSET_VARIABLE is not set."),
        (["issue", "contoso", "--password-stdin"], "The password from standard input is empty."),
        (["issue", "contoso", "--password-fd", "9"], "Cannot read the secret from file descriptor 9."),
        (["issue", "contoso", "--password-out", "fd:9"], "--password-out fd:9 does not name an open file descriptor."),
        (["issue", "contoso", "--password-file", "/etc/hostname", "--password-stdin"], "Give at most one of"),
        (["issue", "contoso", "--from", "x.csv"], "Give either a tenant id or --from"),
        (["issue"], "Give either a tenant id or --from"),
    ])
    func badInput(_ arguments: [String], _ message: String) throws {
        let dir = try TemporaryDirectory()
        var arguments = arguments
        if !arguments.contains("--policy") { arguments += ["--policy", CLI.defaultPolicy] }
        let result = try CLI.run(arguments + ["--out", dir.file("out")], input: Data())
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        let left = try dir.listing()
        #expect(left.isEmpty || left == ["out"], "nothing but the (empty) output folder may exist: \(left)")
    }

    @Test("an empty or too-short password file is refused before anything is written")
    func badPasswordFile() throws {
        let dir = try TemporaryDirectory()
        try dir.write("empty.txt", "\n")
        try dir.write("short.txt", "veeam\n")
        for (file, message) in [("empty.txt", "is empty"), ("short.txt", "has 5 characters; the policy requires at least 16")] {
            let result = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.file("out"), "--password-file", dir.file(file)])
            #expect(result.status == 1)
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(!result.stderr.contains("veeam"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/contoso")))
    }

    @Test("issuing a tenant twice never overwrites the first export")
    func noOverwrite() throws {
        let dir = try TemporaryDirectory()
        let first = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.path])
        try #require(first.status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir.file("contoso/contoso.pfx")))
        let second = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.path])
        #expect(second.status == 1)
        #expect(second.stderr.contains("already have an export"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("contoso/contoso.pfx"))) == before)
        #expect(try dir.listing().filter { $0.contains(".staging") }.isEmpty)
    }

    @Test("an output folder other users may write to is refused")
    func openOutputFolder() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("shared"), withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o777])
        let result = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--out", dir.file("shared")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("writable to other users"))
        #expect(result.stderr.contains("chmod go-w"))
        #expect(try dir.listing() == ["shared"])
    }
}
