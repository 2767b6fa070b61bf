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

    @Test("a secret file is opened once and checked on its descriptor: links, FIFOs, other owners and open modes are refused")
    func openPrivateFile() throws {
        let dir = try TemporaryDirectory()
        try PrivateFiles.writeNewFile(dir.file("key"), bytes: Array("k".utf8))
        let fd = try PrivateFiles.openPrivateFile(dir.file("key"), what: "The key file")
        close(fd)
        try #require(symlink(dir.file("key"), dir.file("link")) == 0)
        try #require(mkfifo(dir.file("fifo"), 0o600) == 0)
        try PrivateFiles.writeNewFile(dir.file("theirs"), bytes: [1])
        try #require(chown(dir.file("theirs"), 65534, gid_t.max) == 0)
        try PrivateFiles.writeNewFile(dir.file("open"), bytes: [1])
        chmod(dir.file("open"), 0o640)
        for (name, expected) in [("link", "symbolic link"), ("fifo", "not a regular file"), ("theirs", "another user"), ("open", "mode 640")] {
            let error = try #require(throws: CertVaultError.self) { try PrivateFiles.openPrivateFile(dir.file(name), what: "The key file") }
            #expect(error.code == .insecurePermissions, "\(name)")
            #expect(error.reason.contains(expected), "\(name): \(error.reason)")
        }
    }

    @Test("a private folder must be the user's own and closed to others, with the chown or chmod that fixes it")
    func checkPrivateFolder() throws {
        let dir = try TemporaryDirectory()
        try PrivateFiles.makePrivateDirectory(dir.file("mine"))
        try PrivateFiles.checkPrivateFolder(dir.file("mine"), what: "The folder")
        try PrivateFiles.makePrivateDirectory(dir.file("theirs"))
        try #require(chown(dir.file("theirs"), 65534, gid_t.max) == 0)
        let owner = try #require(throws: CertVaultError.self) { try PrivateFiles.checkPrivateFolder(dir.file("theirs"), what: "The folder") }
        #expect(owner.hint?.contains("chown \(geteuid()) \(dir.file("theirs"))") == true)
        let existing = try #require(throws: CertVaultError.self) { try PrivateFiles.makePrivateDirectory(dir.file("theirs")) }
        #expect(existing.reason.contains("another user"))
        chmod(dir.file("mine"), 0o755)
        let mode = try #require(throws: CertVaultError.self) { try PrivateFiles.checkPrivateFolder(dir.file("mine"), what: "The folder") }
        #expect(mode.hint?.contains("chmod 700") == true)
    }
}
