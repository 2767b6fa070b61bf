import CertVaultCore
import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import Foundation
import Testing

/// Java's own PKCS#12 implementation, from the JDK.
@Suite("Java keytool opens what certvault writes", Fixtures.needs(.keytool))
struct KeytoolTests {
    @Test("both profiles open with the password and show the friendly name as the alias",
          arguments: [IssuancePolicy.PKCS12Profile.compat, .modern])
    func opens(_ profile: IssuancePolicy.PKCS12Profile) throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue(policy: try Fixtures.policy { $0.pkcs12.profile = profile })
        let (pfx, _) = try Fixtures.files(credential, in: dir)
        let result = try ExternalTool.keytool.run(
            ["-list", "-v", "-storetype", "PKCS12", "-keystore", pfx, "-storepass:env", "PFXPASS"],
            environment: ["PFXPASS": Fixtures.text(credential.password)])
        try #require(result.status == 0, "\(result.combined)")
        #expect(result.stdout.contains("Your keystore contains 1 entry"))
        // Java's PKCS12 keystore lower-cases aliases.
        #expect(result.stdout.contains("Alias name: contoso vb365 tenant"))
        #expect(result.stdout.contains("Entry type: PrivateKeyEntry"))
        #expect(result.stdout.contains("Owner: CN=Contoso VB365 Tenant, O=Contoso"))
        #expect(result.stdout.contains("SHA256: " + credential.summary.fingerprintSHA256.chunked(2).joined(separator: ":")))
        #expect(result.stdout.contains("2048-bit RSA key"))
    }

    @Test("a supplied password with spaces and punctuation means the same to Java as to us")
    func punctuationPassword() throws {
        let dir = try TemporaryDirectory()
        let password = "correct horse: 'battery' \"staple\" #1 $HOME"
        let credential = try Fixtures.issue(password: password)
        let (pfx, _) = try Fixtures.files(credential, in: dir)
        let result = try ExternalTool.keytool.run(
            ["-list", "-storetype", "PKCS12", "-keystore", pfx, "-storepass:env", "PFXPASS"],
            environment: ["PFXPASS": password])
        #expect(result.status == 0, "\(result.combined)")
        #expect(result.stdout.contains("PrivateKeyEntry"))
    }

    @Test("a wrong password is refused by keytool")
    func wrongPassword() throws {
        let dir = try TemporaryDirectory()
        let (pfx, _) = try Fixtures.files(try Fixtures.issue(), in: dir)
        let result = try ExternalTool.keytool.run(["-list", "-storetype", "PKCS12", "-keystore", pfx, "-storepass:env", "PFXPASS"],
                                                  environment: ["PFXPASS": "wrong-password"])
        #expect(result.status != 0)
    }
}

/// Python's `cryptography` package (OpenSSL underneath, but none of our code).
@Suite("Python cryptography loads what certvault writes", .enabled(if: ExternalTool.pythonCryptography || TestEnvironment.toolsRequired,
                                                                      "python3 with the cryptography package is not installed"))
struct PythonCryptographyTests {
    static let script = """
        import os, sys
        from cryptography.hazmat.primitives.serialization import pkcs12
        from cryptography.hazmat.primitives import hashes
        data = open(sys.argv[1], 'rb').read()
        p = pkcs12.load_pkcs12(data, os.environb[b'PFXPASS'])
        cert = p.cert.certificate
        print('friendly', p.cert.friendly_name.decode())
        print('bits', p.key.key_size)
        print('match', p.key.public_key().public_numbers() == cert.public_key().public_numbers())
        print('thumb', cert.fingerprint(hashes.SHA1()).hex().upper())
        print('serial_positive', cert.serial_number > 0)
        """

    @Test("key, certificate, friendly name and thumbprint", arguments: [IssuancePolicy.PKCS12Profile.compat, .modern])
    func loads(_ profile: IssuancePolicy.PKCS12Profile) throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue(policy: try Fixtures.policy { $0.pkcs12.profile = profile })
        let (pfx, _) = try Fixtures.files(credential, in: dir)
        let result = try ExternalTool.python3.run(["-c", Self.script, pfx], environment: ["PFXPASS": Fixtures.text(credential.password)])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("friendly Contoso VB365 Tenant"))
        #expect(result.stdout.contains("bits 2048"))
        #expect(result.stdout.contains("match True"))
        #expect(result.stdout.contains("thumb \(credential.summary.thumbprintSHA1)"))
        #expect(result.stdout.contains("serial_positive True"))
    }
}

/// GnuTLS: a PKCS#12 implementation that shares no code with OpenSSL.
@Suite("GnuTLS certtool reads what certvault writes", Fixtures.needs(.certtool))
struct CerttoolTests {
    @Test("the compat profile is PKCS12-3DES-SHA1 with a SHA-1 MAC; modern is PBES2 AES-256 with a SHA-256 MAC",
          arguments: [(IssuancePolicy.PKCS12Profile.compat, "PKCS12-3DES-SHA1", "SHA1"), (.modern, "PBES2-AES256-CBC", "SHA256")])
    func reads(_ profile: IssuancePolicy.PKCS12Profile, _ schema: String, _ mac: String) throws {
        let dir = try TemporaryDirectory()
        let credential = try Fixtures.issue(policy: try Fixtures.policy { $0.pkcs12.profile = profile })
        let (pfx, _) = try Fixtures.files(credential, in: dir)
        // certtool takes the password only as an argument; this is a test password for a test key.
        let result = try ExternalTool.certtool.run(["--p12-info", "--inder", "--infile", pfx, "--password",
                                                    Fixtures.text(credential.password)])
        try #require(result.status == 0, "\(result.combined)")
        #expect(result.stdout.contains("MAC: \(mac)"))
        #expect(result.stdout.contains("Schema: \(schema)"))
        #expect(result.stdout.components(separatedBy: "Friendly name: Contoso VB365 Tenant").count - 1 == 2)
        // certtool prints the key bag still encrypted, and the certificate.
        #expect(result.stdout.contains("BEGIN ENCRYPTED PRIVATE KEY"))
        #expect(result.stdout.contains("BEGIN CERTIFICATE"))
    }
}
