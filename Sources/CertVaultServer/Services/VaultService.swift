public import CertVaultVault
import Foundation

/// The service's one handle on the vault.
///
/// Concurrency: ``Vault`` is a non-`Sendable` class (it caches the keyring and index state), so no
/// route handler touches it directly. Every use goes through ``use(_:)``, which runs the closure on
/// the ``BlockingWork`` pool (never on a NIO event loop: vault calls read files and fsync) while
/// holding this service's lock, so calls on the handle are strictly one at a time. Other processes
/// (the CLI) and other handles in this process (the onboarding workflow opens its own) coordinate
/// through the vault's own file lock, exactly as two CLI commands do.
public final class VaultService: @unchecked Sendable {
    // Safety: `vault` is only touched inside `lock.withLock`, on a BlockingWork thread.
    private let vault: Vault
    private let lock = NSLock()
    private let work: BlockingWork

    /// Wraps an open vault; the caller gives up its own use of `vault`.
    public init(vault: Vault, work: BlockingWork) {
        self.vault = vault
        self.work = work
    }

    /// The vault folder.
    public var path: String { vault.path }

    /// Runs `body` with the vault, on the blocking pool, one call at a time.
    public func use<T: Sendable>(_ body: @escaping @Sendable (Vault) throws -> T) async throws -> T {
        try await work.run { [self] in
            try self.lock.withLock { try body(self.vault) }
        }
    }
}
