public import CertVaultCore
public import CertVaultPolicy

/// Makes and checks PFX passwords.
public enum PasswordFactory {
    /// A fresh random password of `rules.length` characters from ``IssuancePolicy/PasswordRules/alphabet``,
    /// drawn without bias from libsodium's CSPRNG straight into secure memory.
    public static func generate(_ rules: IssuancePolicy.PasswordRules) -> SecretBytes {
        let alphabet = IssuancePolicy.PasswordRules.alphabet
        return SecretBytes(count: rules.length) { buffer in
            for index in 0..<buffer.count {
                buffer[index] = alphabet[Int(SodiumRuntime.uniformRandom(below: UInt32(alphabet.count)))]
            }
        }
    }

    /// Checks a password a user supplied.
    ///
    /// It must be allowed by the policy, at least `rules.minimumSuppliedLength` characters long,
    /// and made of printable ASCII (space to `~`). PKCS#12 turns passwords into BMPString, and
    /// implementations disagree beyond ASCII: OpenSSL and GnuTLS convert UTF-8, while Java's
    /// keytool refuses non-ASCII PBKDF2 passwords and derives different keys for the rest (seen
    /// with JDK 17), so a PFX with such a password opens in some tools and not in others.
    /// Messages never echo the password.
    ///
    /// - Throws: ``CertVaultError`` `invalid-password`.
    public static func validateSupplied(_ password: SecretBytes, rules: IssuancePolicy.PasswordRules, source: String) throws {
        func fail(_ why: String, _ hint: String) -> CertVaultError {
            CertVaultError(.invalidPassword, "The password from \(source) \(why).", hint: hint)
        }
        guard rules.allowSupplied else {
            throw fail("cannot be used: this policy allows only generated passwords",
                       "Leave out the password option, or use a policy with allow_supplied = true.")
        }
        guard !password.isEmpty else {
            throw fail("is empty", "Put the password in the file, or leave out the option to have one generated.")
        }
        var tooShort = false
        let problem: String? = password.withUnsafeBytes { bytes in
            if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                return "contains a control character (a tab, NUL or similar)"
            }
            if bytes.contains(where: { $0 > 0x7F }) {
                return "contains characters outside printable ASCII, which PKCS#12 tools encode differently "
                    + "(Java's keytool cannot open such a PFX)"
            }
            tooShort = bytes.count < rules.minimumSuppliedLength
            return tooShort ? "has \(bytes.count) characters; the policy requires at least \(rules.minimumSuppliedLength)" : nil
        }
        if let problem {
            throw fail(problem, (tooShort ? "Use a longer password of printable ASCII characters" : "Use only printable ASCII characters")
                + " (letters, digits, spaces, punctuation), or leave out the option to have one generated.")
        }
    }
}
