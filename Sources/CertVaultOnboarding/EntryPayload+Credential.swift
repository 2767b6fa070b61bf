public import CertVaultIssuer
public import CertVaultVault

extension EntryPayload {
    /// What the vault keeps of an issued credential: the PFX, its password, the certificate and
    /// the facts. The one bridge between the issuer's output and the vault's input.
    public init(_ credential: IssuedCredential) {
        let s = credential.summary
        self.init(pfx: credential.pfx, password: credential.password, certificateDER: credential.certificateDER,
                  facts: CertificateFacts(friendlyName: s.friendlyName, thumbprintSHA1: s.thumbprintSHA1,
                                          fingerprintSHA256: s.fingerprintSHA256, serialNumber: s.serialNumber,
                                          notBefore: s.notBefore, notAfter: s.notAfter, policy: s.policy, subject: s.subject))
    }
}
