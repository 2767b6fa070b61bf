public import CertVaultVault
import Foundation

/// The service's handles on the vault.
///
/// Concurrency: ``Vault`` is a non-`Sendable` class (it caches the keyring and index state), so no
/// route handler touches one directly. Every use goes through ``use(_:)``, which runs the closure on
/// the ``BlockingWork`` pool (never on a NIO event loop: vault calls read files and fsync) while
/// holding the lock of one handle, so each handle is used by one thread at a time. With several
/// handles (as many as blocking threads, say) that many vault calls run at once, for example
/// audited credential reads whose audit appends can then be committed together; writers of all
/// handles, of the onboarding workflow's own handle and of other processes (the CLI) exclude each
/// other through the vault's file lock, exactly as two CLI commands do.
public final class VaultService: @unchecked Sendable {
    /// One handle and the lock that guards it.
    private final class Slot: @unchecked Sendable {
        // Safety: `vault` is only touched while `lock` is held.
        let vault: Vault
        let lock = NSLock()
        init(_ vault: Vault) { self.vault = vault }
    }

    private let slots: [Slot]
    private let work: BlockingWork
    // Safety: `turn` is read and written under `turnLock` only.
    private let turnLock = NSLock()
    private var turn = 0
    // Safety: `reader` is read and written under `turnLock` only.
    private var reader: CredentialReader?

    /// Wraps one open vault; the caller gives up its own use of `vault`.
    public convenience init(vault: Vault, work: BlockingWork) {
        self.init(handles: [vault], work: work)
    }

    /// Wraps several handles on the same vault (each opened with `Vault.open`); the caller gives
    /// up its own use of them. At least one.
    public init(handles: [Vault], work: BlockingWork) {
        precondition(!handles.isEmpty, "VaultService needs at least one vault handle")
        self.slots = handles.map(Slot.init)
        self.work = work
    }

    /// The vault folder.
    public var path: String { slots[0].vault.path }

    /// How many vault calls may run at once.
    public var handleCount: Int { slots.count }

    /// Runs `body` with a vault handle no other call is using, on the blocking pool.
    public func use<T: Sendable>(_ body: @escaping @Sendable (Vault) throws -> T) async throws -> T {
        try await work.run { [self] in
            let slot = self.acquire()
            defer { slot.lock.unlock() }
            return try body(slot.vault)
        }
    }

    /// The reader for credential reads, with their audit records committed in groups (one fsync
    /// for every read waiting at that moment); its own handle on the vault, made on first use.
    public func credentialReader() async throws -> CredentialReader {
        if let reader = turnLock.withLock({ reader }) { return reader }
        let made = try await use { try $0.credentialReader() }
        return turnLock.withLock {
            if let reader { return reader }
            reader = made
            return made
        }
    }

    /// A free handle (locked), or, when all are busy, the next one in turn once it is free.
    private func acquire() -> Slot {
        let start = turnLock.withLock {
            turn = (turn + 1) % slots.count
            return turn
        }
        for offset in 0..<slots.count {
            let slot = slots[(start + offset) % slots.count]
            if slot.lock.try() { return slot }
        }
        let slot = slots[start]
        slot.lock.lock()
        return slot
    }
}
