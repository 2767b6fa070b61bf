import CertVaultCore
import CertVaultTesting
import Glibc
import Testing

@Suite("Secrets are read from files, descriptors and the environment, never argv")
struct SecretSourceTests {
    func text(_ secret: SecretBytes) -> String {
        secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    @Test("a file's trailing line break is dropped", arguments: [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw"), ("p w \n", "p w "),
                                                                 ("\n", ""), ("two\nlines\n", "two\nlines")])
    func file(_ content: String, _ expected: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("pw.txt", content)
        #expect(text(try SecretSource.file(path).read()) == expected)
    }

    @Test("a missing file is a clear error")
    func missingFile() throws {
        let error = try #require(throws: CertVaultError.self) { try SecretSource.file("/nonexistent/pw.txt").read() }
        #expect(error.code == .secretSourceUnreadable)
        #expect(error.reason.contains("/nonexistent/pw.txt"))
    }

    @Test("a folder given as the file is a clear error")
    func folder() throws {
        let dir = try TemporaryDirectory()
        let error = try #require(throws: CertVaultError.self) { try SecretSource.file(dir.path).read() }
        #expect(error.code == .secretSourceUnreadable)
    }

    @Test("a secret with a NUL byte is refused: C libraries would cut it short")
    func nulByte() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("nul.txt", bytes: Array("before".utf8) + [0] + Array("after".utf8))
        let error = try #require(throws: CertVaultError.self) { try SecretSource.file(path).read() }
        #expect(error.reason.contains("contains a NUL byte"))
    }

    @Test("an oversized secret is refused")
    func oversized() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("big.txt", String(repeating: "x", count: 5000))
        let error = try #require(throws: CertVaultError.self) { try SecretSource.file(path).read() }
        #expect(error.reason.contains("longer than 4096"))
    }

    @Test("an environment variable is read and then removed from the environment")
    func environment() throws {
        setenv("CERTVAULT_TEST_SECRET", "from-env", 1)
        #expect(text(try SecretSource.environment("CERTVAULT_TEST_SECRET").read()) == "from-env")
        #expect(getenv("CERTVAULT_TEST_SECRET") == nil)
        let error = try #require(throws: CertVaultError.self) { try SecretSource.environment("CERTVAULT_TEST_SECRET").read() }
        #expect(error.reason.contains("not set"))
    }

    @Test("a file descriptor is read to its end")
    func fileDescriptor() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        _ = "via-fd\n".withCString { write(fds[1], $0, 7) }
        close(fds[1])
        defer { close(fds[0]) }
        #expect(text(try SecretSource.fileDescriptor(fds[0]).read()) == "via-fd")
    }

    @Test("a closed file descriptor is a clear error")
    func closedDescriptor() throws {
        let error = try #require(throws: CertVaultError.self) { try SecretSource.fileDescriptor(987).read() }
        #expect(error.reason.contains("file descriptor 987"))
        #expect(error.hint?.contains("3<file") == true)
    }
}
