import fsp from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { throwIfCancelled } from '@rds/artifacts';
import type { Destination } from '@rds/schemas';

export type S3Destination = Extract<Destination, { kind: 's3' }>;

export interface UploadFile {
  /** Local path of the file to publish. */
  path: string;
  /** Name under the destination prefix. */
  name: string;
  bytes: number;
  sha256: string;
  contentType: string;
}

export interface UploadResult {
  location: string;
  uploaded: string[];
  /** Objects already there with the same size and sha256 (a re-run): not sent again. */
  unchanged: string[];
}

const DEFAULT_PART_BYTES = 64 << 20;

export function s3Key(dest: S3Destination, name: string): string {
  const prefix = dest.prefix.replace(/^\/+|\/+$/g, '');
  return prefix ? `${prefix}/${name}` : name;
}

export function s3Location(dest: S3Destination): string {
  const prefix = dest.prefix.replace(/^\/+|\/+$/g, '');
  return `s3://${dest.bucket}${prefix ? `/${prefix}` : ''}`;
}

/**
 * Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * profiles, instance roles). Checksums only when required: S3-compatible stores (MinIO, s3rver, R2) do not
 * all accept the SDK's default aws-chunked CRC trailers; integrity is checked with our own sha256 metadata.
 */
export function s3Client(dest: S3Destination): S3Client {
  return new S3Client({
    region: dest.region,
    ...(dest.endpoint ? { endpoint: dest.endpoint } : {}),
    forcePathStyle: dest.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function existing(
  client: S3Client,
  bucket: string,
  key: string,
  signal: AbortSignal,
): Promise<{ bytes: number; sha256: string | undefined } | null> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return { bytes: head.ContentLength ?? -1, sha256: head.Metadata?.sha256 };
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchKey') return null;
    throw err;
  }
}

/**
 * Upload files under the destination prefix; idempotent: an object with the same size and sha256
 * metadata is left alone. Files above `partBytes` go up as multipart uploads (PutObject stops at 5 GiB),
 * aborted on failure so no orphan parts are billed.
 */
export async function uploadToS3(
  dest: S3Destination,
  files: UploadFile[],
  signal: AbortSignal,
  partBytes = DEFAULT_PART_BYTES,
  client = s3Client(dest),
): Promise<UploadResult> {
  const uploaded: string[] = [];
  const unchanged: string[] = [];
  for (const f of files) {
    throwIfCancelled(signal);
    const key = s3Key(dest, f.name);
    const there = await existing(client, dest.bucket, key, signal);
    if (there && there.bytes === f.bytes && there.sha256 === f.sha256) {
      unchanged.push(key);
      continue;
    }
    const common = { Bucket: dest.bucket, Key: key, ContentType: f.contentType, Metadata: { sha256: f.sha256 } };
    if (f.bytes <= partBytes) {
      await client.send(new PutObjectCommand({ ...common, Body: await fsp.readFile(f.path), ContentLength: f.bytes }), {
        abortSignal: signal,
      });
    } else {
      await multipart(client, common, f, partBytes, signal);
    }
    const after = await existing(client, dest.bucket, key, signal);
    if (!after || after.bytes !== f.bytes)
      throw new Error(
        `s3://${dest.bucket}/${key}: uploaded ${f.bytes} bytes but the store reports ${after?.bytes ?? 'no object'}`,
      );
    uploaded.push(key);
  }
  return { location: s3Location(dest), uploaded, unchanged };
}

async function multipart(
  client: S3Client,
  common: { Bucket: string; Key: string; ContentType: string; Metadata: Record<string, string> },
  f: UploadFile,
  partBytes: number,
  signal: AbortSignal,
): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand(common), { abortSignal: signal });
  if (!UploadId) throw new Error(`s3://${common.Bucket}/${common.Key}: no UploadId from CreateMultipartUpload`);
  const fh = await fsp.open(f.path, 'r');
  try {
    const parts: { ETag: string; PartNumber: number }[] = [];
    const buf = Buffer.alloc(partBytes);
    for (let offset = 0, part = 1; offset < f.bytes; offset += partBytes, part++) {
      throwIfCancelled(signal);
      const { bytesRead } = await fh.read(buf, 0, Math.min(partBytes, f.bytes - offset), offset);
      const res = await client.send(
        new UploadPartCommand({
          Bucket: common.Bucket,
          Key: common.Key,
          UploadId,
          PartNumber: part,
          Body: buf.subarray(0, bytesRead),
          ContentLength: bytesRead,
        }),
        { abortSignal: signal },
      );
      if (!res.ETag) throw new Error(`s3://${common.Bucket}/${common.Key}: part ${part} has no ETag`);
      parts.push({ ETag: res.ETag, PartNumber: part });
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: common.Bucket,
        Key: common.Key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: common.Bucket, Key: common.Key, UploadId }))
      .catch(() => undefined);
    throw err;
  } finally {
    await fh.close();
  }
}
