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
    /// It must be allowed by the policy, valid UTF-8, free of control characters, made of
    /// characters in Unicode's Basic Multilingual Plane (PKCS#12 encodes passwords as
    /// BMPString; characters outside it are encoded differently by different tools), and at
    /// least `rules.minimumSuppliedLength` characters long. Messages never echo the password.
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
        guard !password.isEmpty else { throw fail("is empty", "Put the password in the file, or leave out the option to have one generated.") }
        let problem: String? = password.withUnsafeBytes { bytes in
            var iterator = bytes.makeIterator()
            var decoder = Unicode.UTF8()
            var characters = 0
            while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar):
                    if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                        return "contains a control character (a tab, NUL or similar)"
                    }
                    if scalar.value > 0xFFFF {
                        return "contains a character outside Unicode's Basic Multilingual Plane (an emoji or similar), "
                            + "which PKCS#12 tools encode inconsistently"
                    }
                    characters += 1
                case .emptyInput:
                    return characters < rules.minimumSuppliedLength
                        ? "has \(characters) characters; the policy requires at least \(rules.minimumSuppliedLength)" : nil
                case .error:
                    return "is not valid UTF-8 text"
                }
            }
        }
        if let problem {
            throw fail(problem, "Use a longer password of printable characters, or leave out the option to have one generated.")
        }
    }
}
