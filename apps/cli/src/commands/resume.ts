import { steerCommand } from './steer.js';

export default steerCommand('resume', 'resume a paused Temporal run');
