internal import CertVaultIssuer
internal import CertVaultVB365
internal import Foundation

/// Opens each PFX of an organization body with its password and checks the key, as VB365 has to
/// in order to use it.
struct CertificateValidation {
    let errors: RESTErrors
    /// Refuse AES (PBES2) PFX files with Windows Server 2016's misleading message.
    let windowsServer2016: Bool

    /// The SHA-1 thumbprint of the one certificate the selected services carry.
    func thumbprint(of body: VB365Organization) throws(VB365Refusal) -> String {
        let exchangeWanted = body.isExchangeOnline == true || body.isTeamsOnline == true
        let sharePointWanted = body.isSharePointOnline == true
        let wanted: [(String, Bool, VB365ConnectionSettings?)] = [
            ("exchangeOnlineSettings", exchangeWanted, body.exchangeOnlineSettings),
            ("sharePointOnlineSettings", sharePointWanted, body.sharePointOnlineSettings),
        ]
        var thumbprints: Set<String> = []
        for (name, isWanted, settings) in wanted where isWanted {
            guard let settings else { throw errors.refusal("\(name) is required for the selected services.") }
            thumbprints.insert(try thumbprint(name, settings))
        }
        guard thumbprints.count == 1, let thumbprint = thumbprints.first else {
            throw errors.refusal(thumbprints.isEmpty ? "No certificate was given."
                                 : "exchangeOnlineSettings and sharePointOnlineSettings must carry the same certificate.")
        }
        return thumbprint
    }

    private func thumbprint(_ name: String, _ settings: VB365ConnectionSettings) throws(VB365Refusal) -> String {
        guard settings.useApplicationOnlyAuth == true else {
            throw errors.refusal("\(name).useApplicationOnlyAuth must be true for modern app-only authentication.")
        }
        guard let base64 = settings.applicationCertificate, let pfx = Data(base64Encoded: base64) else {
            throw errors.refusal("\(name).applicationCertificate must be the base64 of a PFX file.")
        }
        guard let password = settings.applicationCertificatePassword else {
            throw errors.refusal("\(name).applicationCertificatePassword is required.")
        }
        if windowsServer2016 && Self.usesPBES2(Array(pfx)) {
            // Windows Server 2016 cannot decrypt AES (PBES2) PKCS#12 and blames the password.
            throw errors.refusal("Failed to import the certificate: The specified network password is not correct.")
        }
        let contents: PKCS12Contents
        do {
            contents = try PKCS12Contents(pfx: Array(pfx), password: password.bytes)
        } catch {
            throw errors.refusal("Failed to import the certificate from \(name): the certificate password is not correct or the file is damaged.")
        }
        guard contents.keyIsRSA else {
            throw errors.refusal("The certificate in \(name) must have an RSA key (Microsoft Entra ID accepts RSA only).")
        }
        guard contents.keyBits >= 2048 else {
            throw errors.refusal("The certificate key in \(name) is \(contents.keyBits) bits; at least 2048 are required.")
        }
        guard contents.keyMatchesCertificate else {
            throw errors.refusal("The private key in \(name) does not belong to its certificate.")
        }
        return contents.thumbprintSHA1
    }

    /// Whether a PFX uses PBES2 (AES) anywhere: its OID 1.2.840.113549.1.5.13 appears in the
    /// unencrypted AlgorithmIdentifier of an encrypted bag. (A chance match inside ciphertext
    /// has a probability of about n/2^88.)
    static func usesPBES2(_ pfx: [UInt8]) -> Bool {
        let oid: [UInt8] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D]
        guard pfx.count >= oid.count else { return false }
        for start in 0...(pfx.count - oid.count) where pfx[start] == 0x06 && pfx[start + 1] == 0x09 {
            if Array(pfx[start..<(start + oid.count)]) == oid { return true }
        }
        return false
    }
}
