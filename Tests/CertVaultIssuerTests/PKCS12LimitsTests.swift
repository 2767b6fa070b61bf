import CertVaultCore
@testable import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import Foundation
import Testing

/// A PFX names its own iteration counts; certvault reads them before it derives any key.
@Suite("PFX files from outside cannot make certvault work for minutes", Fixtures.needs(.openssl))
struct PKCS12IterationCapTests {
    let openssl = ExternalTool.openssl
    static let password = "iterations-test-password"
    /// The smallest count that DER encodes in four bytes (00 80 00 00), so that it can be
    /// patched in place to any larger 31-bit count without changing the file's structure.
    static let patchable: [UInt8] = [0x02, 0x04, 0x00, 0x80, 0x00, 0x00]

    func makePFX(in dir: TemporaryDirectory, _ extra: [String]) throws -> [UInt8] {
        let key = dir.file("k.pem"), cert = dir.file("c.pem"), pfx = dir.file("o.pfx")
        let passwordFile = try dir.write("pw.txt", Self.password + "\n")
        let req = try openssl.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                   "-subj", "/CN=iterations", "-days", "30"])
        try #require(req.status == 0, "\(req.stderr)")
        let export = try openssl.run(["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", pfx,
                                      "-passout", "file:\(passwordFile)"] + extra)
        try #require(export.status == 0, "\(export.stderr)")
        return Array(try Data(contentsOf: URL(fileURLWithPath: pfx)))
    }

    /// Replaces every four-byte count 8388608 with `count`.
    func patched(_ pfx: [UInt8], to count: UInt32) throws -> [UInt8] {
        var bytes = pfx
        var found = 0
        var index = 0
        while index + Self.patchable.count <= bytes.count {
            if Array(bytes[index..<index + Self.patchable.count]) == Self.patchable {
                bytes.replaceSubrange(index + 2..<index + 6, with: withUnsafeBytes(of: count.bigEndian, Array.init))
                found += 1
            }
            index += 1
        }
        try #require(found > 0, "the fixture should hold the count 8388608")
        return bytes
    }

    @Test("a MAC iteration count of 2^31-1 is refused at once, saying the cap")
    func macIterations() throws {
        let dir = try TemporaryDirectory()
        // openssl 3's -iter sets the MAC's count too; nothing encrypted, so only the MAC costs time.
        let pfx = try makePFX(in: dir, ["-iter", "8388608", "-certpbe", "NONE", "-keypbe", "NONE", "-macalg", "sha1"])
        let hostile = try patched(pfx, to: 0x7FFF_FFFF)
        let error = try #require(throws: CertVaultError.self) {
            try PKCS12Contents(pfx: hostile, password: Fixtures.secret(Self.password))
        }
        #expect(error.code == .pkcs12Unreadable)
        #expect(error.reason.contains("2147483647 iterations for its integrity MAC"), "\(error.reason)")
        #expect(error.reason.contains("more than the 10000000 certvault accepts"), "\(error.reason)")
    }

    @Test("encryption iteration counts over the cap are refused before the password is tried")
    func encryptionIterations() throws {
        // Certificates encrypted with 8388608 iterations, the key not; then the other way round; the MAC with 1.
        let certificates = try #require(throws: CertVaultError.self) {
            let pfx = try makePFX(in: try TemporaryDirectory(), ["-iter", "8388608", "-nomaciter", "-keypbe", "NONE"])
            return try PKCS12Contents(pfx: try patched(pfx, to: 10_000_001), password: Fixtures.secret("wrong"))
        }
        #expect(certificates.reason.contains("10000001 iterations for its encrypted certificates"), "\(certificates.reason)")
        let key = try #require(throws: CertVaultError.self) {
            let pfx = try makePFX(in: try TemporaryDirectory(), ["-iter", "8388608", "-nomaciter", "-certpbe", "NONE"])
            return try PKCS12Contents(pfx: try patched(pfx, to: 0x7FFF_FFFF), password: Fixtures.secret("wrong"))
        }
        #expect(key.reason.contains("2147483647 iterations for its private key's encryption"), "\(key.reason)")
        #expect(!key.reason.contains("password is wrong"))
    }

    @Test("many parts each under the cap are refused when together they ask for too much")
    func totalIterations() throws {
        // 32768 encodes in three bytes (00 80 00); patched to 8388607 (7F FF FF) for the MAC, the
        // certificates and the key: each under the cap, 25 million in all.
        let pfx = try makePFX(in: try TemporaryDirectory(), ["-iter", "32768"])
        let small: [UInt8] = [0x02, 0x03, 0x00, 0x80, 0x00]
        var bytes = pfx
        var found = 0
        for index in 0...(bytes.count - small.count) where Array(bytes[index..<index + small.count]) == small {
            bytes.replaceSubrange(index + 2..<index + 5, with: [0x7F, 0xFF, 0xFF])
            found += 1
        }
        try #require(found == 3, "MAC, certificates and key should each hold the count 32768")
        let error = try #require(throws: CertVaultError.self) {
            try PKCS12Contents(pfx: bytes, password: Fixtures.secret(Self.password))
        }
        #expect(error.reason.contains("25165821 iterations in all, more than the 20000000 certvault accepts"), "\(error.reason)")
    }

    @Test("the most the policy allows (600,000 for encryption and MAC) is read")
    func policyMaximum() throws {
        let policy = try Fixtures.policy { $0.pkcs12 = .init(profile: .modern, iterations: 600_000, macIterations: 600_000) }
        let credential = try Fixtures.issue(policy: policy)
        let contents = try PKCS12Contents(pfx: credential.pfx, password: credential.password)
        #expect(contents.keyMatchesCertificate)
        #expect(PKCS12Limits.maximumIterations >= 600_000)
    }
}

@Suite("OpenSSL's legacy provider stays out of the process's default library context", Fixtures.needs(.openssl))
struct LegacyProviderIsolationTests {
    let openssl = ExternalTool.openssl

    @Test("reading an RC2-40 PFX and writing the 3DES/SHA-1 compat profile load nothing legacy into the default context")
    func isolated() throws {
        let dir = try TemporaryDirectory()
        let key = dir.file("k.pem"), cert = dir.file("c.pem"), pfx = dir.file("o.pfx")
        let passwordFile = try dir.write("pw.txt", "legacy-test-password")
        #expect(try openssl.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                 "-subj", "/CN=legacy", "-days", "30"]).status == 0)
        let export = try openssl.run(["pkcs12", "-export", "-legacy", "-inkey", key, "-in", cert, "-out", pfx,
                                      "-passout", "file:\(passwordFile)"])
        try #require(export.status == 0, "\(export.stderr)")
        let info = try openssl.run(["pkcs12", "-info", "-noout", "-legacy", "-in", pfx, "-passin", "file:\(passwordFile)"])
        #expect(info.combined.contains("pbeWithSHA1And40BitRC2-CBC"), "the fixture should really be RC2-40")

        let contents = try PKCS12Contents(pfx: Array(try Data(contentsOf: URL(fileURLWithPath: pfx))),
                                          password: Fixtures.secret("legacy-test-password"))
        #expect(contents.keyMatchesCertificate)
        let compat = try Fixtures.issue(policy: try Fixtures.policy { $0.pkcs12.profile = .compat })
        #expect(try PKCS12Contents(pfx: compat.pfx, password: compat.password).keyMatchesCertificate)
        #expect(LegacyProvider.context != nil)
        #expect(!LegacyProvider.isInDefaultContext)
    }

    @Test("generated keys have the public exponent 65537")
    func exponent() throws {
        let credential = try Fixtures.issue()
        #expect(try PKCS12Contents(pfx: credential.pfx, password: credential.password).keyPublicExponent == 65537)
    }
}

@Suite("Subject values are plain text")
struct SubjectTextTests {
    @Test("a bidi override or a line separator in --org is refused and shown escaped, before any key is made",
          arguments: ["Con\u{202E}toso", "Contoso\u{2028}Ltd", "Contoso\u{1B}[2J"])
    func invisible(_ org: String) throws {
        let error = try #require(throws: CertVaultError.self) {
            try Issuer(policy: try Fixtures.policy(), logger: Fixtures.logger)
                .prepare(IssuanceRequest(tenant: try TenantID("contoso"), org: org))
        }
        #expect(error.code == .invalidSubject)
        #expect(error.reason.contains("contains a control character (\\u{"), "\(error.reason)")
        #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape))
    }
}
