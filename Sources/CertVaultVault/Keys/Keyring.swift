internal import CertVaultCore
internal import CSodium

/// The vault's key-encryption keys (KEKs), each sealed under the root key and known by a
/// version number. Entries name the KEK that wrapped their data key; a KEK is always chosen by
/// that id, never found by trying keys.
struct Keyring {
    struct Record {
        let id: UInt32
        let created: Int64
        let key: SecretBytes
    }

    static let fileName = "keyring"
    private(set) var records: [Record]

    /// The KEK new entries are wrapped with: the highest id.
    var current: Record { records.max { $0.id < $1.id }! }

    func key(id: UInt32) -> SecretBytes? { records.first { $0.id == id }?.key }

    /// A keyring with one fresh KEK, id 1.
    static func new(now: Int64) -> Keyring {
        Keyring(records: [Record(id: 1, created: now, key: SecretBytes.random(count: 32))])
    }

    /// Adds a new KEK with the next id.
    mutating func addVersion(now: Int64) -> Record {
        let record = Record(id: current.id + 1, created: now, key: SecretBytes.random(count: 32))
        records.append(record)
        return record
    }

    /// Removes KEKs; the caller has checked that no entry uses them.
    mutating func remove(ids: Set<UInt32>) {
        let currentID = current.id
        records.removeAll { ids.contains($0.id) && $0.id != currentID }
    }

    static func associatedData(id: UInt32, created: Int64) -> [UInt8] {
        var aad = ByteWriter()
        aad.append(FileKind.keyring.magic)
        aad.u32(id)
        aad.i64(created)
        return aad.bytes
    }

    /// The keys derived from the root key for the keyring: one wraps KEKs, one MACs the file.
    static func wrapKey(_ root: SecretBytes) -> SecretBytes { AEAD.deriveKey(from: root, purpose: "certvault keyring wrap key v1") }
    static func macKey(_ root: SecretBytes) -> SecretBytes { AEAD.deriveKey(from: root, purpose: "certvault keyring mac key v1") }

    func serialize(root: SecretBytes) -> [UInt8] {
        let wrapKey = Keyring.wrapKey(root)
        var out = ByteWriter()
        out.append(FileKind.keyring.magic)
        out.u32(UInt32(records.count))
        for record in records.sorted(by: { $0.id < $1.id }) {
            let nonce = AEAD.nonce()
            out.u32(record.id)
            out.i64(record.created)
            out.append(nonce)
            out.append(AEAD.seal(record.key, key: wrapKey, nonce: nonce, associatedData: Keyring.associatedData(id: record.id, created: record.created)))
        }
        // The MAC binds the set and order of records: none can be dropped or put back alone.
        out.append(AEAD.keyedHash(out.bytes, key: Keyring.macKey(root)))
        return out.bytes
    }

    static func parse(_ bytes: [UInt8], root: SecretBytes, file: String) throws -> Keyring {
        try FileKind.keyring.checkMagic(bytes, file: file)
        guard bytes.count >= 12 + 32 else { throw VaultError.corrupt(file, "it ends early") }
        let body = Array(bytes.dropLast(32))
        let wrapKey = wrapKey(root)
        guard sodium_memcmp(AEAD.keyedHash(body, key: macKey(root)), Array(bytes.suffix(32)), 32) == 0 else {
            // Either the wrong root key, or an altered file: the first record tells which.
            if body.count >= 12 + 84 {
                let first = Array(body[12..<96])
                let id = first[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let created = Int64(bitPattern: first[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                if AEAD.open(first[36..<84], key: wrapKey, nonce: first[12..<36], associatedData: associatedData(id: id, created: created)) != nil {
                    throw VaultError.authentication(file, "keyring MAC: records were removed, added or reordered")
                }
            }
            throw CertVaultError(.vaultLocked, "The root key does not open this vault's keyring: wrong key file or passphrase, "
                + "or '\(file)' was altered.", hint: "Check which key file or passphrase belongs to this vault; nothing was changed.")
        }
        var reader = ByteReader(body)
        do {
            _ = try reader.take(8)
            let count = try reader.u32()
            guard count >= 1, count <= 10_000 else { throw VaultError.corrupt(file, "it claims \(count) keys") }
            var records: [Record] = []
            for index in 0..<count {
                let id = try reader.u32()
                let created = try reader.i64()
                let nonce = try reader.take(AEAD.nonceBytes)
                let wrapped = try reader.take(32 + AEAD.tagBytes)
                guard let key = AEAD.open(wrapped, key: wrapKey, nonce: nonce, associatedData: associatedData(id: id, created: created)) else {
                    throw VaultError.authentication(file, "key-encryption key \(id)")
                }
                guard records.last.map({ $0.id < id }) ?? true else { throw VaultError.corrupt(file, "key ids are not in ascending order") }
                _ = index
                records.append(Record(id: id, created: created, key: key))
            }
            guard reader.atEnd else { throw VaultError.corrupt(file, "it has \(reader.remaining) unexpected bytes at the end") }
            return Keyring(records: records)
        } catch let error as FormatError {
            throw VaultError.corrupt(file, error.message)
        }
    }
}
