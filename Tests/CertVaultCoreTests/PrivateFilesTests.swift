import CertVaultCore
import CertVaultTesting
import Foundation
import Testing

@Suite("Private files are 0600 in 0700 folders and never overwritten")
struct PrivateFilesTests {
    @Test("new files are 0600 and folders 0700, whatever the umask")
    func modes() throws {
        let dir = try TemporaryDirectory()
        let previous = umask(0)
        defer { umask(previous) }
        try PrivateFiles.makePrivateDirectory(dir.file("a/b/c"))
        try PrivateFiles.writeNewFile(dir.file("a/b/c/f"), bytes: Array("data".utf8))
        #expect(try TemporaryDirectory.mode(dir.file("a")) == 0o700)
        #expect(try TemporaryDirectory.mode(dir.file("a/b/c")) == 0o700)
        #expect(try TemporaryDirectory.mode(dir.file("a/b/c/f")) == 0o600)
    }

    @Test("an existing file is never overwritten")
    func noOverwrite() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("f", "original")
        let error = try #require(throws: CertVaultError.self) { try PrivateFiles.writeNewFile(path, bytes: Array("new".utf8)) }
        #expect(error.code == .alreadyExists)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "original")
    }

    @Test("a folder other users can read is refused with the fix")
    func openFolder() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("open"), withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        let error = try #require(throws: CertVaultError.self) { try PrivateFiles.makePrivateDirectory(dir.file("open")) }
        #expect(error.code == .insecurePermissions)
        #expect(error.hint?.contains("chmod 700") == true)
    }

    @Test("publishing a staged folder never replaces an existing one")
    func publish() throws {
        let dir = try TemporaryDirectory()
        let staged = try PrivateFiles.makeStagingDirectory(in: dir.path, label: "t")
        try PrivateFiles.writeNewFile("\(staged)/x", bytes: [1])
        try PrivateFiles.publishStagedDirectory(staged, as: dir.file("final"))
        #expect(FileManager.default.fileExists(atPath: dir.file("final/x")))

        let second = try PrivateFiles.makeStagingDirectory(in: dir.path, label: "t")
        try PrivateFiles.writeNewFile("\(second)/y", bytes: [2])
        let error = try #require(throws: CertVaultError.self) { try PrivateFiles.publishStagedDirectory(second, as: dir.file("final")) }
        #expect(error.code == .alreadyExists)
        #expect(!FileManager.default.fileExists(atPath: dir.file("final/y")))
        PrivateFiles.removeStagingDirectory(second)
        #expect(try dir.listing() == ["final", "final/x"])
    }
}
