// Types for the parts of upng-js and utif that we use (neither ships declarations; jpeg-js does).
declare module 'upng-js' {
  export interface UpngImage {
    width: number;
    height: number;
    depth: number;
    ctype: number;
    frames: unknown[];
    tabs: Record<string, unknown>;
    /** Inflated pixel data; only set once the decoder reached the IEND chunk. */
    data?: Uint8Array;
  }
  const UPNG: {
    /** Throws a string (not an Error) when the bytes are not a PNG. */
    decode(buffer: ArrayBuffer): UpngImage;
    /** One RGBA buffer per frame (16-bit samples keep their high byte). */
    toRGBA8(img: UpngImage): ArrayBuffer[];
    /** colours = 0: lossless. */
    encode(frames: ArrayBuffer[], width: number, height: number, colours: number): ArrayBuffer;
  };
  export default UPNG;
}

declare module 'utif' {
  /** An image file directory (a page): tag N is the array `tN`; decodeImage adds width, height and data. */
  export interface Ifd {
    [tag: string]: unknown;
    width?: number;
    height?: number;
    data?: Uint8Array;
  }
  const UTIF: {
    decode(buffer: ArrayBuffer | Uint8Array): Ifd[];
    decodeImage(buffer: ArrayBuffer | Uint8Array, ifd: Ifd, ifds?: Ifd[]): void;
    toRGBA8(ifd: Ifd): Uint8Array;
  };
  export default UTIF;
}

declare module 'pako' {
  /** Streaming zlib inflate (pako 1.x): push() calls onData per output chunk; err/msg after an error. */
  export class Inflate {
    constructor(opts?: { chunkSize?: number; raw?: boolean });
    onData: (chunk: Uint8Array) => void;
    onEnd: (status: number) => void;
    push(data: Uint8Array, mode?: boolean | number): boolean;
    err: number;
    msg: string;
    strm?: { msg?: string };
  }
  const pako: { Inflate: typeof Inflate };
  export default pako;
}
