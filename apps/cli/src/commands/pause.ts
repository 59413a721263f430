import { steerCommand } from './steer.js';

export default steerCommand('pause', 'pause a Temporal run: no new activity or shard starts until resume');
