// s3rver ships no type declarations; the tests use it through test/helpers/s3-server.ts only.
declare module "s3rver";
