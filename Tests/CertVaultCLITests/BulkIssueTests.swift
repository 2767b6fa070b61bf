import CertVaultTesting
import Foundation
import Testing

@Suite("certvault issue --from FILE.csv", .serialized)
struct BulkIssueTests {
    @Test("issues every tenant of the CSV with plain progress lines when stderr is not a terminal")
    func bulk() throws {
        let dir = try TemporaryDirectory()
        let tenants = (1...8).map { "tenant-\($0)" }
        try dir.write("t.csv", "tenant,org,domain\n" + tenants.map { "\($0),\"Org \($0)\",\($0).onmicrosoft.com" }.joined(separator: "\n") + "\n")
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy, "--out", dir.file("out"), "--jobs", "2"])
        try #require(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 8)
        #expect(Set(lines.map { $0.split(separator: "\t")[0] }) == Set(tenants.map { Substring($0) }))
        #expect(Set(lines.map { $0.split(separator: "\t")[1] }).count == 8, "every tenant gets its own certificate")
        #expect(result.stderr.contains("[8/8]"))
        #expect(result.stderr.contains("issued 8 of 8 certificates"))
        #expect(!result.stderr.contains("\u{1B}["), "no terminal control codes in a pipe")
        for tenant in tenants {
            #expect(FileManager.default.fileExists(atPath: dir.file("out/\(tenant)/\(tenant).pfx")))
        }
        let passwords = try tenants.map { try String(contentsOfFile: dir.file("out/\($0)/password.txt"), encoding: .utf8) }
        #expect(Set(passwords).count == 8)
    }

    @Test("--json prints one array; --password-out sends all passwords to one file")
    func bulkJSON() throws {
        let dir = try TemporaryDirectory()
        try dir.write("t.csv", "tenant\nalpha\nbeta\ngamma\n")
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy, "--out", dir.file("out"),
                                  "--json", "--password-out", dir.file("pw.tsv")])
        try #require(result.status == 0, "\(result.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [[String: Any]])
        #expect(array.compactMap { ($0["summary"] as? [String: Any])?["tenant"] as? String } == ["alpha", "beta", "gamma"])
        let lines = try String(contentsOfFile: dir.file("pw.tsv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(try TemporaryDirectory.mode(dir.file("pw.tsv")) == 0o600)
        for line in lines { #expect(!result.stdout.contains(String(line.split(separator: "\t")[1]))) }
    }

    @Test("one bad row stops the whole file before any key is made", arguments: [
        ("tenant\ngood\n../../etc\n", "t.csv:3: Invalid tenant id '../../etc'"),
        ("tenant\ngood\ngood\n", "t.csv:3: tenant 'good' is listed again"),
        ("tenant,orgname\ngood,x\n", "t.csv:1: unknown column 'orgname'"),
        ("tenant,org\ngood," + String(repeating: "x", count: 70) + "\n", "O is 70 characters long"),
    ])
    func badRow(_ csv: String, _ message: String) throws {
        let dir = try TemporaryDirectory()
        try dir.write("t.csv", csv)
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy, "--out", dir.file("out")])
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/good")))
    }

    @Test("a missing CSV file is a clear error")
    func missingCSV() throws {
        let result = try CLI.run(["issue", "--from", "/nonexistent/t.csv", "--policy", CLI.defaultPolicy])
        #expect(result.status == 1)
        #expect(result.stderr.contains("Cannot read the tenant file '/nonexistent/t.csv'"))
    }
}
