// The page bundles OpenSeadragon's minified build (375 kB instead of the 1.2 MB unminified `main`
// file); it is the same library, typed by the package's own types/index.d.ts.
declare module 'openseadragon/build/openseadragon/openseadragon.min.js' {
  import OpenSeadragon from 'openseadragon';
  export default OpenSeadragon;
}
