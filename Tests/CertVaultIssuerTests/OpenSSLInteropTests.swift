import CertVaultCore
import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import Foundation
import Testing

/// What we write, read by the `openssl` command-line tool.
@Suite("openssl reads what certvault writes", Fixtures.needs(.openssl))
struct OpenSSLReadsOurPFXTests {
    let openssl = ExternalTool.openssl

    func pkcs12Info(_ credential: IssuedCredential, dir: TemporaryDirectory) throws -> String {
        let (pfx, _) = try Fixtures.files(credential, in: dir)
        let result = try openssl.run(["pkcs12", "-info", "-in", pfx, "-passin", "env:PFXPASS", "-nokeys", "-nocerts"],
                                     environment: ["PFXPASS": Fixtures.text(credential.password)])
        try #require(result.status == 0, "\(result.stderr)")
        return result.combined
    }

    @Test("compat profile: 3DES for both bags, SHA-1 MAC, the policy's iterations, friendly name on both bags")
    func compatProfile() throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue()
        let info = try pkcs12Info(credential, dir: dir)
        #expect(info.contains("MAC: sha1, Iteration 10000"))
        #expect(info.contains("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 10000"))
        #expect(info.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 10000"))
        #expect(!info.contains("AES"))

        let bags = try openssl.run(["pkcs12", "-in", try Fixtures.files(credential, in: dir).pfx, "-passin", "env:P", "-nodes", "-info"],
                                   environment: ["P": Fixtures.text(credential.password)])
        // Both bags: friendlyName and localKeyID, once each.
        #expect(bags.stdout.components(separatedBy: "friendlyName: Contoso VB365 Tenant").count - 1 == 2)
        #expect(bags.stdout.components(separatedBy: "localKeyID:").count - 1 == 2)
    }

    @Test("modern profile: AES-256-CBC with PBKDF2/HMAC-SHA256, SHA-256 MAC")
    func modernProfile() throws {
        let dir = try TemporaryDirectory()
        let policy = try Fixtures.policy {
            $0.pkcs12 = .init(profile: .modern, iterations: 50_000, macIterations: 40_000)
        }
        let info = try pkcs12Info(try Fixtures.issue(policy: policy), dir: dir)
        #expect(info.contains("MAC: sha256, Iteration 40000"))
        #expect(info.contains("PBES2, PBKDF2, AES-256-CBC, Iteration 50000, PRF hmacWithSHA256"))
        #expect(info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 50000, PRF hmacWithSHA256"))
        #expect(!info.contains("TripleDES"))
    }

    @Test("the private key in the PFX belongs to the certificate")
    func keyMatchesCertificate() throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue()
        let (pfx, pem) = try Fixtures.files(credential, in: dir)
        let key = try openssl.run(["pkcs12", "-in", pfx, "-passin", "env:P", "-nocerts", "-nodes"],
                                  environment: ["P": Fixtures.text(credential.password)])
        try #require(key.status == 0)
        let fromKey = try openssl.run(["pkey", "-pubout"], input: Data(key.stdout.utf8))
        let fromCert = try openssl.run(["x509", "-in", pem, "-noout", "-pubkey"])
        #expect(fromKey.status == 0 && fromCert.status == 0)
        #expect(!fromKey.stdout.isEmpty)
        #expect(fromKey.stdout == fromCert.stdout)
    }

    @Test("a wrong password does not open it")
    func wrongPassword() throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue()
        let result = try openssl.run(["pkcs12", "-info", "-in", try Fixtures.files(credential, in: dir).pfx, "-passin", "pass:wrong",
                                      "-noout"])
        #expect(result.status != 0)
        #expect(result.combined.contains("invalid password") || result.combined.contains("mac verify failure"))
    }

    @Test("x509 -text: subject, key size, signature, validity and extensions as the policy says")
    func certificateText() throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue(policy: try Fixtures.policy {
            $0.digest = .sha384
            $0.validityDays = 400
            $0.extensions.keyUsage = [.digitalSignature, .keyEncipherment]
            $0.extensions.extendedKeyUsage = [.clientAuth, .serverAuth]
        })
        let (_, pem) = try Fixtures.files(credential, in: dir)
        let text = try openssl.run(["x509", "-in", pem, "-noout", "-text"]).stdout
        #expect(text.contains("Version: 3 (0x2)"))
        #expect(text.contains("Subject: O = Contoso, CN = Contoso VB365 Tenant"))
        #expect(text.contains("Issuer: O = Contoso, CN = Contoso VB365 Tenant"))
        #expect(text.contains("Public-Key: (2048 bit)"))
        #expect(text.contains("Exponent: 65537"))
        #expect(text.contains("Signature Algorithm: sha384WithRSAEncryption"))
        #expect(text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"))
        #expect(text.contains("X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment"))
        #expect(text.contains("TLS Web Client Authentication, TLS Web Server Authentication"))
        #expect(text.contains("X509v3 Subject Key Identifier"))
        #expect(text.contains("X509v3 Authority Key Identifier"))

        // Validity: notBefore is backdated by the policy's 300 s; notAfter is 400 days after issuance.
        let dates = try openssl.run(["x509", "-in", pem, "-noout", "-startdate", "-enddate", "-dateopt", "iso_8601"]).stdout
        let lines = dates.split(separator: "\n").map { String($0.split(separator: "=")[1]) }
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withFullDate, .withSpaceBetweenDateAndTime, .withTime, .withColonSeparatorInTime]
        let start = try #require(format.date(from: lines[0].replacingOccurrences(of: "Z", with: "")))
        let end = try #require(format.date(from: lines[1].replacingOccurrences(of: "Z", with: "")))
        #expect(end.timeIntervalSince(start) == 400 * 86_400 + 300)
        #expect(abs(start.timeIntervalSinceNow + 300) < 120)

        // The signature verifies against the certificate's own key (self-signed).
        let verify = try openssl.run(["verify", "-CAfile", pem, "-purpose", "sslclient", pem])
        #expect(verify.stdout.contains("OK"), "\(verify.combined)")
    }

    @Test("the thumbprint and fingerprint are openssl's SHA-1 and SHA-256 of the DER")
    func thumbprints() throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue()
        let (_, pem) = try Fixtures.files(credential, in: dir)
        let sha1 = try openssl.run(["x509", "-in", pem, "-noout", "-fingerprint", "-sha1"]).stdout
        let sha256 = try openssl.run(["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"]).stdout
        #expect(sha1.contains(credential.summary.thumbprintSHA1.chunked(2).joined(separator: ":")))
        #expect(sha256.contains(credential.summary.fingerprintSHA256.chunked(2).joined(separator: ":")))
        #expect(credential.summary.thumbprintSHA1.count == 40)
        #expect(credential.summary.thumbprintSHA1 == credential.summary.thumbprintSHA1.uppercased())
        let serial = try openssl.run(["x509", "-in", pem, "-noout", "-serial"]).stdout
        #expect(serial == "serial=\(credential.summary.serialNumber)\n")
    }

    @Test("the serial is positive with the policy's bit length", arguments: [65, 127, 159])
    func serialLength(bits: Int) throws {
        let credential = try Fixtures.issue(policy: try Fixtures.policy { $0.serialBits = bits })
        // BN_bn2hex pads to whole bytes, so drop leading zero digits first.
        let hex = String(credential.summary.serialNumber.drop { $0 == "0" })
        let leading = try #require(Int(String(hex.first!), radix: 16))
        let bitLength = (hex.count - 1) * 4 + (Int.bitWidth - leading.leadingZeroBitCount)
        #expect(bitLength == bits)
    }

    @Test("the veeam-sample policy reproduces the by-hand example certificate with RSA-4096")
    func veeamSample() throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue(org: "Contoso", policy: try Fixtures.policy("veeam-sample"))
        let (_, pem) = try Fixtures.files(credential, in: dir)
        let text = try openssl.run(["x509", "-in", pem, "-noout", "-text"]).stdout
        #expect(text.contains("Subject: C = US, ST = Kentucky, L = Lexington, O = Veeam Software, OU = VCSP, CN = Contoso"))
        #expect(text.contains("Public-Key: (4096 bit)"))
        #expect(text.contains("sha256WithRSAEncryption"))
        #expect(credential.summary.friendlyName == "Contoso VB365 Tenant")
        let days = try openssl.run(["x509", "-in", pem, "-noout", "-checkend", String(3649 * 86_400)])
        #expect(days.status == 0, "the certificate should be valid for 3650 days")
    }

    @Test("base64 is exactly the PFX, in one line: what applicationCertificate takes")
    func base64() throws {
        let credential = try Fixtures.issue()
        #expect(!credential.pfxBase64.contains("\n"))
        #expect(credential.pfxBase64 == Data(credential.pfx).base64EncodedString())
        let decoded = try openssl.run(["base64", "-d", "-A"], input: Data(credential.pfxBase64.utf8))
        #expect(Array(decoded.stdoutData) == credential.pfx)
    }
}

/// What the `openssl` command-line tool writes, read by us.
@Suite("certvault reads PFX files that openssl writes", Fixtures.needs(.openssl))
struct WeReadOpenSSLPFXTests {
    let openssl = ExternalTool.openssl

    func makePFX(in dir: TemporaryDirectory, bits: Int = 2048, extra: [String]) throws -> (pfx: [UInt8], pem: String) {
        let key = dir.file("k.pem"), cert = dir.file("c.pem"), pfx = dir.file("o.pfx")
        let req = try openssl.run(["req", "-x509", "-newkey", "rsa:\(bits)", "-nodes", "-keyout", key, "-out", cert,
                                   "-subj", "/CN=made by openssl", "-days", "30"])
        try #require(req.status == 0, "\(req.stderr)")
        let export = try openssl.run(["pkcs12", "-export", "-inkey", key, "-in", cert, "-out", pfx, "-name", "Fabrikam VB365 Tenant",
                                      "-passout", "env:P"] + extra, environment: ["P": "s3cret-from-openssl"])
        try #require(export.status == 0, "\(export.stderr)")
        return (Array(try Data(contentsOf: URL(fileURLWithPath: pfx))), try String(contentsOfFile: cert, encoding: .utf8))
    }

    @Test("openssl's default (AES-256, SHA-256 MAC) and 3DES/SHA-1 PFX files", arguments: [
        [String](), ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"], ["-iter", "100000"],
    ])
    func reads(_ extra: [String]) throws {
        let dir = try TemporaryDirectory()
        let (pfx, pem) = try makePFX(in: dir, extra: extra)
        let contents = try PKCS12Contents(pfx: pfx, password: Fixtures.secret("s3cret-from-openssl"))
        #expect(contents.friendlyName == "Fabrikam VB365 Tenant")
        #expect(contents.keyIsRSA)
        #expect(contents.keyBits == 2048)
        #expect(contents.keyMatchesCertificate)
        #expect(contents.localKeyID?.count == 20)
        let fingerprint = try openssl.run(["x509", "-noout", "-fingerprint", "-sha1"], input: Data(pem.utf8)).stdout
        #expect(fingerprint.contains(contents.thumbprintSHA1.chunked(2).joined(separator: ":")))
    }

    @Test("a PFX without an integrity MAC is refused with the reason")
    func noMAC() throws {
        let dir = try TemporaryDirectory()
        let (pfx, _) = try makePFX(in: dir, extra: ["-nomac"])
        let error = try #require(throws: CertVaultError.self) { try PKCS12Contents(pfx: pfx, password: Fixtures.secret("s3cret-from-openssl")) }
        #expect(error.reason.contains("no integrity MAC"))
    }

    @Test("a legacy RC2-40 PFX (older OpenSSL's default) is read through the legacy provider")
    func legacy() throws {
        let dir = try TemporaryDirectory()
        let made = try makePFX(in: dir, extra: ["-legacy"])
        let info = try openssl.run(["pkcs12", "-info", "-noout", "-legacy", "-in", dir.file("o.pfx"), "-passin", "env:P"],
                                   environment: ["P": "s3cret-from-openssl"])
        #expect(info.combined.contains("pbeWithSHA1And40BitRC2-CBC"), "the fixture should really be RC2-40")
        let contents = try PKCS12Contents(pfx: made.pfx, password: Fixtures.secret("s3cret-from-openssl"))
        #expect(contents.friendlyName == "Fabrikam VB365 Tenant")
        #expect(contents.keyMatchesCertificate)
    }

    @Test("a wrong password, a truncated file and random bytes are clear errors that never echo the password")
    func badInput() throws {
        let dir = try TemporaryDirectory()
        let (pfx, _) = try makePFX(in: dir, extra: [])
        let wrong = try #require(throws: CertVaultError.self) {
            try PKCS12Contents(pfx: pfx, password: Fixtures.secret("not-the-password"))
        }
        #expect(wrong.code == .pkcs12Unreadable)
        #expect(wrong.reason.contains("password is wrong"))
        #expect(!wrong.description.contains("not-the-password"))

        for broken in [Array(pfx.prefix(pfx.count / 2)), Array(pfx.prefix(10)), [], (0..<512).map { _ in UInt8.random(in: 0...255) }] {
            let error = try #require(throws: CertVaultError.self) {
                try PKCS12Contents(pfx: broken, password: Fixtures.secret("s3cret-from-openssl"))
            }
            #expect(error.code == .pkcs12Unreadable)
            #expect(!error.description.contains("s3cret-from-openssl"))
        }
    }
}

extension String {
    func chunked(_ size: Int) -> [String] {
        stride(from: 0, to: count, by: size).map {
            let start = index(startIndex, offsetBy: $0)
            return String(self[start..<index(start, offsetBy: min(size, count - $0))])
        }
    }
}
