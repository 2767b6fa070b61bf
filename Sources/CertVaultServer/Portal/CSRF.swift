public import CertVaultCore
import CertVaultVault
import Foundation
import Synchronization

/// Tokens that prove a form was rendered by this service for this visitor: a BLAKE2b MAC, under a
/// key derived from the vault's root key (`vault.derivedKey(purpose: "portal csrf")`), of what the
/// form is bound to (`invitation:ID` for the customer's pages, `session:ID` for the dashboard).
///
/// Stateless: the same binding always gets the same token, so a page reloaded or opened twice
/// works; another invitation's or session's token never matches. Every POST checks it in
/// constant time before anything else happens.
public struct CSRF: Sendable {
    /// The purpose given to `Vault.derivedKey(purpose:)`.
    public static let keyPurpose = "portal csrf"
    private let key: SecretBytes

    /// A checker with `key` (32 bytes from `Vault.derivedKey(purpose: CSRF.keyPurpose)`).
    public init(key: SecretBytes) { self.key = key }

    /// The token for a binding, URL-safe base64 without padding (43 characters).
    public func token(binding: String) -> String {
        Self.base64URL(mac(binding))
    }

    /// Whether `presented` is the token for `binding` (constant-time; a missing token is refused).
    public func verify(_ presented: String?, binding: String) -> Bool {
        guard let presented, let bytes = Self.decodeBase64URL(presented) else { return false }
        return KeyedHash.equal(bytes, mac(binding))
    }

    private func mac(_ binding: String) -> [UInt8] {
        KeyedHash.blake2b(Array("certvault csrf v1\u{0}\(binding)".utf8), key: key)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: String) -> [UInt8]? {
        guard text.count == 43, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else { return nil }
        let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}

/// Makes the ``CSRF`` checker on first use (the key comes from the vault, through its serialized
/// handle) and keeps it.
public final class CSRFProvider: Sendable {
    private let vault: VaultService
    private let cached = Mutex<CSRF?>(nil)

    public init(vault: VaultService) { self.vault = vault }

    /// The checker.
    ///
    /// - Throws: what reading the vault throws.
    public func checker() async throws -> CSRF {
        if let csrf = cached.withLock({ $0 }) { return csrf }
        let key = try await vault.use { $0.derivedKey(purpose: CSRF.keyPurpose) }
        let csrf = CSRF(key: key)
        cached.withLock { $0 = csrf }
        return csrf
    }
}
