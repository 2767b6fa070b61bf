import CertVaultCore
import Testing

@Suite("Secret bytes never show themselves")
struct SecretBytesTests {
    @Test("description and debugDescription show only the length")
    func redacted() {
        let secret = Array("hunter2hunter2".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        #expect(secret.description == "SecretBytes(14 bytes, redacted)")
        #expect(String(reflecting: secret) == "SecretBytes(14 bytes, redacted)")
        #expect(!"\(secret)".contains("hunter2"))
    }

    @Test("equality compares content")
    func equality() {
        let a = Array("same-secret".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        let b = Array("same-secret".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        let c = Array("same-secreT".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        #expect(a == b)
        #expect(a != c)
        #expect(a != a.prefix(4))
    }

    @Test("random secrets differ and have the asked length")
    func random() {
        let a = SecretBytes.random(count: 32)
        let b = SecretBytes.random(count: 32)
        #expect(a.count == 32)
        #expect(a != b)
    }

    @Test("a C string view is NUL-terminated after the content")
    func cString() {
        let secret = Array("abc".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        let length = secret.withUnsafeCString { strlen($0) }
        #expect(length == 3)
    }
}

import Glibc
