internal import CertVaultCore
internal import Foundation

/// One generation's file: a clear header, the data key wrapped by a KEK, the sealed payload and
/// the sealed metadata. Byte layout: docs/vault-format.md.
struct EntryFile {
    /// The header: everything before the key block. It is associated data of all three sealed
    /// parts, so an edited header, or a file copied to another tenant or generation, does not open.
    struct Header: Equatable {
        let tenant: TenantID
        let generation: UInt32
        let created: Int64

        static let aeadXChaCha20Poly1305: UInt8 = 1

        var bytes: [UInt8] {
            var out = ByteWriter()
            out.append(FileKind.entry.magic)
            out.u8(Header.aeadXChaCha20Poly1305)
            let tenantBytes = Array(tenant.rawValue.utf8)
            out.u8(UInt8(tenantBytes.count))
            out.append(tenantBytes)
            out.u32(generation)
            out.i64(created)
            return out.bytes
        }
    }

    let header: Header
    let kekID: UInt32
    let keyNonce: ArraySlice<UInt8>
    let wrappedKey: ArraySlice<UInt8>
    let payloadNonce: ArraySlice<UInt8>
    let payloadCiphertext: ArraySlice<UInt8>
    let metadataRevision: UInt32
    let metadataNonce: ArraySlice<UInt8>
    let metadataCiphertext: ArraySlice<UInt8>

    static func keyAAD(_ header: [UInt8], kekID: UInt32) -> [UInt8] {
        var out = ByteWriter()
        out.append(header)
        out.append(Array("key".utf8))
        out.u32(kekID)
        return out.bytes
    }

    static func payloadAAD(_ header: [UInt8]) -> [UInt8] { header + Array("payload".utf8) }

    static func metadataAAD(_ header: [UInt8], revision: UInt32) -> [UInt8] {
        var out = ByteWriter()
        out.append(header)
        out.append(Array("metadata".utf8))
        out.u32(revision)
        return out.bytes
    }

    /// Seals a new generation.
    static func seal(header: Header, payload: EntryPayload, metadata: EntryMetadata, kek: Keyring.Record) throws -> [UInt8] {
        let dataKey = SecretBytes.random(count: 32)
        let headerBytes = header.bytes
        let keyNonce = AEAD.nonce()
        let payloadNonce = AEAD.nonce()
        var out = ByteWriter()
        out.append(headerBytes)
        out.u32(kek.id)
        out.append(keyNonce)
        out.append(AEAD.seal(dataKey, key: kek.key, nonce: keyNonce, associatedData: keyAAD(headerBytes, kekID: kek.id)))
        let sealedPayload = AEAD.seal(payload.encode(), key: dataKey, nonce: payloadNonce, associatedData: payloadAAD(headerBytes))
        out.append(payloadNonce)
        out.u32(UInt32(sealedPayload.count))
        out.append(sealedPayload)
        try appendMetadata(&out, headerBytes: headerBytes, metadata: metadata, revision: 1, dataKey: dataKey)
        return out.bytes
    }

    private static func appendMetadata(_ out: inout ByteWriter, headerBytes: [UInt8], metadata: EntryMetadata, revision: UInt32,
                                       dataKey: SecretBytes) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = Array(try encoder.encode(metadata))
        let nonce = AEAD.nonce()
        let sealed = AEAD.seal(plain: json, key: dataKey, nonce: nonce, associatedData: metadataAAD(headerBytes, revision: revision))
        out.u32(revision)
        out.append(nonce)
        out.u32(UInt32(sealed.count))
        out.append(sealed)
    }

    /// Parses the framing; authenticates nothing yet.
    static func parse(_ bytes: [UInt8], file: String) throws -> EntryFile {
        try FileKind.entry.checkMagic(bytes, file: file)
        var reader = ByteReader(bytes)
        do {
            _ = try reader.take(8)
            guard try reader.u8() == Header.aeadXChaCha20Poly1305 else { throw VaultError.corrupt(file, "it names an unknown cipher") }
            let tenantLength = Int(try reader.u8())
            let tenantText = String(decoding: try reader.take(tenantLength), as: UTF8.self)
            guard let tenant = try? TenantID(tenantText) else { throw VaultError.corrupt(file, "its header holds an invalid tenant id") }
            let header = Header(tenant: tenant, generation: try reader.u32(), created: try reader.i64())
            let kekID = try reader.u32()
            let keyNonce = try reader.take(AEAD.nonceBytes)
            let wrappedKey = try reader.take(32 + AEAD.tagBytes)
            let payloadNonce = try reader.take(AEAD.nonceBytes)
            let payloadLength = Int(try reader.u32())
            guard payloadLength >= AEAD.tagBytes else { throw VaultError.corrupt(file, "its payload length is impossible") }
            let payload = try reader.take(payloadLength)
            let revision = try reader.u32()
            let metadataNonce = try reader.take(AEAD.nonceBytes)
            let metadataLength = Int(try reader.u32())
            guard metadataLength >= AEAD.tagBytes else { throw VaultError.corrupt(file, "its metadata length is impossible") }
            let metadata = try reader.take(metadataLength)
            guard reader.atEnd else { throw VaultError.corrupt(file, "it has \(reader.remaining) unexpected bytes at the end") }
            return EntryFile(header: header, kekID: kekID, keyNonce: keyNonce, wrappedKey: wrappedKey, payloadNonce: payloadNonce,
                             payloadCiphertext: payload, metadataRevision: revision, metadataNonce: metadataNonce,
                             metadataCiphertext: metadata)
        } catch let error as FormatError {
            throw VaultError.corrupt(file, error.message)
        }
    }

    /// Unwraps the data key with the KEK the file names.
    func dataKey(keyring: Keyring, file: String) throws -> SecretBytes {
        guard let kek = keyring.key(id: kekID) else {
            throw VaultError.corrupt(file, "it names key-encryption key \(kekID), which the keyring does not hold",
                                     hint: "The file was altered, or the keyring is older than the entry; restore both from one backup.")
        }
        guard let key = AEAD.open(wrappedKey, key: kek, nonce: keyNonce, associatedData: EntryFile.keyAAD(header.bytes, kekID: kekID)) else {
            throw VaultError.authentication(file, "data key")
        }
        return key
    }

    func openPayload(dataKey: SecretBytes, file: String) throws -> EntryPayload {
        guard let plaintext = AEAD.open(payloadCiphertext, key: dataKey, nonce: payloadNonce, associatedData: EntryFile.payloadAAD(header.bytes)) else {
            throw VaultError.authentication(file, "payload")
        }
        return try EntryPayload.decode(plaintext, file: file)
    }

    func openMetadata(dataKey: SecretBytes, file: String) throws -> EntryMetadata {
        guard let plaintext = AEAD.openPlain(metadataCiphertext, key: dataKey, nonce: metadataNonce,
                                             associatedData: EntryFile.metadataAAD(header.bytes, revision: metadataRevision))
        else { throw VaultError.authentication(file, "metadata") }
        do {
            return try JSONDecoder().decode(EntryMetadata.self, from: Data(plaintext))
        } catch {
            throw VaultError.corrupt(file, "its metadata is not readable")
        }
    }

    /// The same file with its data key wrapped by another KEK; payload and metadata bytes are kept.
    func rewrapped(dataKey: SecretBytes, kek: Keyring.Record) -> [UInt8] {
        let headerBytes = header.bytes
        let nonce = AEAD.nonce()
        var out = ByteWriter()
        out.append(headerBytes)
        out.u32(kek.id)
        out.append(nonce)
        out.append(AEAD.seal(dataKey, key: kek.key, nonce: nonce, associatedData: EntryFile.keyAAD(headerBytes, kekID: kek.id)))
        out.append(payloadNonce)
        out.u32(UInt32(payloadCiphertext.count))
        out.append(payloadCiphertext)
        out.u32(metadataRevision)
        out.append(metadataNonce)
        out.u32(UInt32(metadataCiphertext.count))
        out.append(metadataCiphertext)
        return out.bytes
    }

    /// The same file with new metadata at the next revision; the key block and payload bytes are kept.
    func replacingMetadata(_ metadata: EntryMetadata, dataKey: SecretBytes) throws -> [UInt8] {
        var out = ByteWriter()
        let headerBytes = header.bytes
        out.append(headerBytes)
        out.u32(kekID)
        out.append(keyNonce)
        out.append(wrappedKey)
        out.append(payloadNonce)
        out.u32(UInt32(payloadCiphertext.count))
        out.append(payloadCiphertext)
        try EntryFile.appendMetadata(&out, headerBytes: headerBytes, metadata: metadata, revision: metadataRevision + 1, dataKey: dataKey)
        return out.bytes
    }
}
