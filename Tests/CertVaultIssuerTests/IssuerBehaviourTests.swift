import CertVaultCore
import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import Foundation
import Testing

@Suite("Issuance rules")
struct IssuerBehaviourTests {
    @Test("two tenants never share a key, serial or password")
    func unique() throws {
        let credentials = try ["alpha", "beta", "gamma", "delta"].map { try Fixtures.issue($0, org: nil) }
        let contents = try credentials.map { try PKCS12Contents(pfx: $0.pfx, password: $0.password) }
        #expect(Set(credentials.map(\.summary.serialNumber)).count == 4)
        #expect(Set(credentials.map(\.summary.thumbprintSHA1)).count == 4)
        #expect(Set(credentials.map { Fixtures.text($0.password) }).count == 4)
        // Different certificates could still share a key; compare the public keys themselves.
        #expect(Set(contents.map(\.certificateDER)).count == 4)
        let moduli = try credentials.map { credential -> String in
            let dir = try TemporaryDirectory()
            let (_, pem) = try Fixtures.files(credential, in: dir)
            return try ExternalTool.openssl.run(["x509", "-in", pem, "-noout", "-modulus"]).stdout
        }
        #expect(Set(moduli).count == 4)
        #expect(moduli.allSatisfy { $0.hasPrefix("Modulus=") })
    }

    @Test("our own reader agrees with what we wrote")
    func roundTrip() throws {
        let credential = try Fixtures.issue()
        let contents = try PKCS12Contents(pfx: credential.pfx, password: credential.password)
        #expect(contents.friendlyName == "Contoso VB365 Tenant")
        #expect(contents.keyMatchesCertificate)
        #expect(contents.keyBits == 2048)
        #expect(contents.certificateDER == credential.certificateDER)
        #expect(contents.thumbprintSHA1 == credential.summary.thumbprintSHA1)
        #expect(contents.extraCertificateCount == 0)
    }

    @Test("generated passwords: the policy's length, the safe alphabet, never repeated, never 'veeam'")
    func generatedPasswords() throws {
        let rules = IssuancePolicy.defaults.password
        var seen = Set<String>()
        let alphabet = Set(IssuancePolicy.PasswordRules.alphabet)
        for _ in 0..<2000 {
            let password = PasswordFactory.generate(rules)
            #expect(password.count == 32)
            password.withUnsafeBytes { bytes in #expect(bytes.allSatisfy { alphabet.contains($0) }) }
            seen.insert(Fixtures.text(password))
        }
        #expect(seen.count == 2000)
        #expect(!seen.contains("veeam"))
        // Every symbol of the alphabet turns up: no symbol is excluded by a biased draw.
        #expect(Set(seen.joined().utf8) == alphabet)
    }

    @Test("a supplied password is used as given")
    func suppliedPassword() throws {
        let credential = try Fixtures.issue(password: "correct horse battery staple")
        #expect(!credential.passwordGenerated)
        #expect(credential.summary.password == "supplied")
        _ = try PKCS12Contents(pfx: credential.pfx, password: Fixtures.secret("correct horse battery staple"))
    }

    @Test("unusable supplied passwords are refused before any key is made, without echoing them", arguments: [
        ("", "is empty"),
        ("short", "has 5 characters; the policy requires at least 16"),
        ("tab\tinside-a-long-password", "control character"),
        ("Grüße-aus-Köln-2026-x", "outside printable ASCII"),
        ("emoji-😀-is-outside-the-bmp", "outside printable ASCII"),
    ])
    func badSuppliedPasswords(_ password: String, _ message: String) throws {
        let issuer = Issuer(policy: try Fixtures.policy(), logger: Fixtures.logger)
        let request = IssuanceRequest(tenant: try TenantID("contoso"), suppliedPassword: Fixtures.secret(password),
                                      passwordSource: "file 'pw.txt'")
        let error = try #require(throws: CertVaultError.self) { try issuer.prepare(request) }
        #expect(error.code == .invalidPassword)
        #expect(error.reason.contains("The password from file 'pw.txt'"))
        #expect(error.reason.contains(message), "\(error.reason)")
        if !password.isEmpty { #expect(!error.description.contains(password)) }
    }

    @Test("bytes that are not text are refused")
    func invalidUTF8() throws {
        let issuer = Issuer(policy: try Fixtures.policy(), logger: Fixtures.logger)
        let bytes: [UInt8] = Array("valid-prefix-long-enough".utf8) + [0xC3, 0x28]
        let request = IssuanceRequest(tenant: try TenantID("contoso"), suppliedPassword: bytes.withUnsafeBytes { SecretBytes(copying: $0) })
        let error = try #require(throws: CertVaultError.self) { try issuer.prepare(request) }
        #expect(error.reason.contains("outside printable ASCII"))
    }

    @Test("an organization name outside Unicode's Basic Multilingual Plane is refused before any key is made (PKCS#12 cannot hold it)")
    func friendlyNameOutsideBMP() throws {
        let issuer = Issuer(policy: try Fixtures.policy(), logger: Fixtures.logger)
        let error = try #require(throws: CertVaultError.self) {
            try issuer.prepare(IssuanceRequest(tenant: try TenantID("contoso"), org: "Contoso \u{1F600}"))
        }
        #expect(error.code == .invalidSubject)
        #expect(error.reason.contains("U+1F600"))
        #expect(error.hint?.contains("emoji") == true)
        // Characters inside the plane still make a PFX.
        let credential = try issuer.issue(try issuer.prepare(IssuanceRequest(tenant: try TenantID("contoso"), org: "Contoso Müller 株式会社")))
        #expect(credential.summary.friendlyName.contains("Müller 株式会社"))
    }

    @Test("a policy that allows only generated passwords refuses a supplied one")
    func suppliedNotAllowed() throws {
        let issuer = Issuer(policy: try Fixtures.policy("veeam-sample"), logger: Fixtures.logger)
        let request = IssuanceRequest(tenant: try TenantID("contoso"), suppliedPassword: Fixtures.secret("a-perfectly-long-password"))
        let error = try #require(throws: CertVaultError.self) { try issuer.prepare(request) }
        #expect(error.reason.contains("allows only generated passwords"))
    }

    @Test("a template value that is missing or breaks X.509's rules stops issuance before key generation")
    func subjectProblems() throws {
        let domainPolicy = try Fixtures.policy { $0.subject = [.init(type: .CN, value: try! Template("{domain}"))] }
        let missing = try #require(throws: CertVaultError.self) {
            try Issuer(policy: domainPolicy, logger: Fixtures.logger).prepare(IssuanceRequest(tenant: try TenantID("contoso")))
        }
        #expect(missing.code == .missingTemplateValue)

        let long = try #require(throws: CertVaultError.self) {
            try Issuer(policy: try Fixtures.policy(), logger: Fixtures.logger)
                .prepare(IssuanceRequest(tenant: try TenantID("contoso"), org: String(repeating: "x", count: 60)))
        }
        #expect(long.code == .invalidSubject)
        #expect(long.reason.contains("CN is 73 characters long; X.509 allows at most 64"))

        let country = try Fixtures.policy { $0.subject.insert(.init(type: .C, value: try! Template("{org}")), at: 0) }
        let badCountry = try #require(throws: CertVaultError.self) {
            try Issuer(policy: country, logger: Fixtures.logger).prepare(IssuanceRequest(tenant: try TenantID("contoso"), org: "Germany"))
        }
        #expect(badCountry.reason.contains("two-letter"))
    }

    @Test("lengths count code points, as OpenSSL does: combining marks cannot slip past the check")
    func combiningMarks() throws {
        // 33 graphemes, 66 code points: fine by grapheme count, too long for X.509's 64.
        let org = String(repeating: "e\u{301}", count: 33)
        let policy = try Fixtures.policy { $0.subject = [.init(type: .CN, value: try! Template("{org}"))] }
        let error = try #require(throws: CertVaultError.self) {
            try Issuer(policy: policy, logger: Fixtures.logger).prepare(IssuanceRequest(tenant: try TenantID("contoso"), org: org))
        }
        #expect(error.code == .invalidSubject)
        #expect(error.reason.contains("CN is 66 characters long"))
    }

    @Test("authorityKeyIdentifier works without a subjectKeyIdentifier")
    func akiWithoutSki() throws {
        let credential = try Fixtures.issue(policy: try Fixtures.policy { $0.extensions.subjectKeyIdentifier = false })
        let dir = try TemporaryDirectory()
        let (_, pem) = try Fixtures.files(credential, in: dir)
        let text = try ExternalTool.openssl.run(["x509", "-in", pem, "-noout", "-text"]).stdout
        #expect(text.contains("X509v3 Authority Key Identifier"))
        #expect(!text.contains("X509v3 Subject Key Identifier"))
    }

    @Test("UTF-8 in the subject and friendly name survives into the certificate")
    func unicodeSubject() throws {
        let credential = try Fixtures.issue(org: "Müller & Söhne GmbH")
        #expect(credential.summary.friendlyName == "Müller & Söhne GmbH VB365 Tenant")
        let contents = try PKCS12Contents(pfx: credential.pfx, password: credential.password)
        #expect(contents.friendlyName == "Müller & Söhne GmbH VB365 Tenant")
        let dir = try TemporaryDirectory()
        let (_, pem) = try Fixtures.files(credential, in: dir)
        let subject = try ExternalTool.openssl.run(["x509", "-in", pem, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"]).stdout
        #expect(subject.contains("CN=Müller & Söhne GmbH VB365 Tenant"), "\(subject)")
    }

    @Test("the summary's description and the credential show no password")
    func noSecretInDescriptions() throws {
        let credential = try Fixtures.issue()
        let password = Fixtures.text(credential.password)
        #expect(!"\(credential)".contains(password))
        #expect(!String(reflecting: credential).contains(password))
        let json = String(decoding: try JSONEncoder().encode(credential.summary), as: UTF8.self)
        #expect(!json.contains(password))
    }
}
