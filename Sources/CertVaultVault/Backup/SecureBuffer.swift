internal import CSodium
internal import CertVaultCore

/// Memory from `sodium_malloc` (guarded, locked, wiped when freed) for one chunk of a bundle.
final class SecureBuffer {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        SodiumRuntime.ensureInitialized()
        guard let memory = sodium_malloc(count) else { fatalError("sodium_malloc(\(count)) failed: out of memory") }
        pointer = memory
        self.count = count
    }

    deinit { sodium_free(pointer) }

    var bytes: UnsafeMutablePointer<UInt8> { pointer.assumingMemoryBound(to: UInt8.self) }
}
